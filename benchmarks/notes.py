"""Deterministic generated notes for benchmarks: training notes stitched to 30–250 words."""

from __future__ import annotations

import random
from collections.abc import Iterator

from notecheck.data import load_notes

MIN_WORDS, MAX_WORDS = 30, 250


def generate_notes(n: int, seed: int = 7) -> list[str]:
    """``n`` realistic notes of 30–250 words (1–4 corpus notes of one day joined)."""
    return list(iter_notes(n, seed))


def iter_notes(n: int, seed: int = 7) -> Iterator[str]:
    """Stream ``n`` generated notes."""
    corpus = [note.text for note in load_notes()]
    rng = random.Random(seed)
    for _ in range(n):
        target = rng.randint(MIN_WORDS, MAX_WORDS)
        parts: list[str] = []
        words = 0
        while words < target:
            text = rng.choice(corpus)
            if parts and words + len(text.split()) > MAX_WORDS:
                break
            parts.append(text)
            words += len(text.split())
        yield " ".join(parts)
