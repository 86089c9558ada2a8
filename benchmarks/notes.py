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


# Varied long notes: what a year of real notes looks like to a tokenizer's cache. Corpus notes
# repeat a small vocabulary; real notes carry dates, times, record numbers, names and typos
# that are new on almost every note, and the tokenizer caches each whitespace-separated chunk.
_SYLLABLES = (
    "ka lo mi ren sa tor vel an bri co del fen gar hol is jun ker lin mar nor ost pel".split()
)
LONG_MIN_WORDS, LONG_MAX_WORDS = 130, 170


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # two letters swapped


def varied_long_notes(n: int, seed: int = 11, typo_rate: float = 0.02) -> list[str]:
    """``n`` notes of 130–170 words: corpus notes joined, with a header line of their own.

    Each note gets a header (staff name, record number, date, times) and its digits redrawn,
    and about ``typo_rate`` of its words get two letters swapped, so that most notes carry
    words the tokenizer has not seen in this run, as real notes do.
    """
    corpus = [note.text for note in load_notes()]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target = rng.randint(LONG_MIN_WORDS, LONG_MAX_WORDS)
        header = (
            f"Staff: {_name(rng)} {_name(rng)[0]}., QMHP  MRN {rng.randint(100000, 999999)}  "
            f"DOS {rng.randint(1, 12)}/{rng.randint(1, 28)}/2026  "
            f"{rng.randint(8, 11)}:{rng.randint(0, 59):02d}-{rng.randint(12, 16)}:"
            f"{rng.randint(0, 59):02d}"
        )
        words: list[str] = []
        while len(words) < target:
            words.extend(rng.choice(corpus).split(" "))
        body = " ".join(_typo(w, rng) if rng.random() < typo_rate else w for w in words[:target])
        body = "".join(str(rng.randint(0, 9)) if ch.isdigit() else ch for ch in body)
        out.append(header + "\n" + body)
    return out
