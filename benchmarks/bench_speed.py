"""Speed against spaCy's own tokenizer, on the same notes in the same run, and where time goes.

    python benchmarks/bench_speed.py [--notes 1000] [--rounds 3] [--warmup 300]

Two note sets: varied long notes (130–170 words, each with a header line, its digits redrawn
and a few typos, so most notes carry words not seen before in the run — see
``notes.varied_long_notes``) and the corpus notes as written. For each set, in alternating
rounds, each measure on fresh objects:

- spaCy's blank English tokenizer alone (the floor of any spaCy pipeline),
- the project's spaCy pipeline alone (tokenizer, lemmas, sentences, sections, rules),
- ``check_many`` returning Results,
- ``check_many`` + ``Result.to_dict`` + ``json.dumps`` (what the HTTP API and batch do),

as notes/s (median over rounds) and as a ratio to the tokenizer: cold (the notes are the
first each object sees, as in a new process) and warm (each object first runs over other
notes of the same kind, as in a server or a long batch). Then a per-stage table from one more
instrumented warm run: each pipeline component and each step after the pipeline, timed where
the engine calls it, in ms per note and as a share."""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import spacy
from spacy.util import minibatch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notes import varied_long_notes  # noqa: E402

import notecheck.engine as engine_module  # noqa: E402
from notecheck.data import load_notes  # noqa: E402
from notecheck.engine import Engine  # noqa: E402


def _seconds_after_warmup(
    run: Callable[[list[str]], object], texts: list[str], warmup: list[str]
) -> float:
    """``run(warmup)`` untimed, then the seconds ``run(texts)`` takes."""
    run(warmup)
    start = time.perf_counter()
    run(texts)
    return time.perf_counter() - start


def _tokenizer(texts: list[str], warmup: list[str]) -> float:
    nlp = spacy.blank("en")
    return _seconds_after_warmup(lambda batch: [nlp.make_doc(t) for t in batch], texts, warmup)


def _pipeline(texts: list[str], warmup: list[str]) -> float:
    engine = Engine()
    return _seconds_after_warmup(lambda batch: list(engine.parse(batch)), texts, warmup)


def _check_many(texts: list[str], warmup: list[str]) -> float:
    engine = Engine()
    return _seconds_after_warmup(lambda batch: list(engine.check_many(batch)), texts, warmup)


def _check_many_json(texts: list[str], warmup: list[str]) -> float:
    engine = Engine()
    return _seconds_after_warmup(
        lambda batch: [json.dumps(r.to_dict()) for r in engine.check_many(batch)], texts, warmup
    )


MEASURES: dict[str, Callable[[list[str], list[str]], float]] = {
    "spaCy blank English tokenizer": _tokenizer,
    "notecheck spaCy pipeline (engine.parse)": _pipeline,
    "check_many → Results": _check_many,
    "check_many + to_dict + json.dumps": _check_many_json,
}


def _in_child(measure: Callable[..., Any], *args: Any) -> Any:
    """Run ``measure(*args)`` in a forked process.

    Each measure then starts from the same small heap, not one grown by the engines measured
    before it: the garbage collector's passes grow with the heap.
    """
    gc.collect()
    with mp.get_context("fork").Pool(1) as pool:
        return pool.apply(measure, args)


def rates(texts: list[str], warmup: list[str], rounds: int) -> dict[str, float]:
    """Median notes/s of each measure, the measures alternating within each round.

    Every measure starts on fresh objects in a fresh process and first runs over ``warmup``
    (other notes), untimed.
    """
    seconds: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, measure in MEASURES.items():
            seconds[name].append(_in_child(measure, texts, warmup))
    return {name: len(texts) / statistics.median(s) for name, s in seconds.items()}


# The steps after the pipeline, as the engine module calls them (module-level names).
_ENGINE_STEPS = (
    "fold",
    "unfold_result",
    "make_rows",
    "rule_tokens",
    "model_text",
    "context_text",
    "rule_votes",
    "decide",
    "find_times",
    "note_time",
    "segments",
    "time_split",
    "run_checks",
    "_model_evidence",
    "_evidence_sentence",
    "_hints",
)
_MODEL_STEPS = ("features", "predict_proba_features", "top_terms_features")


class _Timed:
    """A callable that adds its own wall time to a shared table."""

    def __init__(self, name: str, func: Callable[..., Any], table: dict[str, float]) -> None:
        self.name, self.func, self.table = name, func, table

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.func(*args, **kwargs)
        finally:
            self.table[self.name] += time.perf_counter() - start


class _TimedComponent(_Timed):
    """A pipeline component timed a batch at a time, as ``nlp.pipe`` runs it."""

    def pipe(self, docs: Any, batch_size: int = 256) -> Any:
        for batch in minibatch(docs, batch_size):
            start = time.perf_counter()
            done = [self.func(doc) for doc in batch]
            self.table[self.name] += time.perf_counter() - start
            yield from done


def stage_table(texts: list[str], warmup: list[str]) -> tuple[dict[str, float], float]:
    """Seconds per stage over ``texts`` (one instrumented run, after ``warmup``) and its total."""
    table: dict[str, float] = defaultdict(float)
    engine = Engine()
    for _ in engine.check_many(warmup):
        pass
    saved = {name: getattr(engine_module, name) for name in _ENGINE_STEPS}
    try:
        for name in _ENGINE_STEPS:
            setattr(engine_module, name, _Timed(name, saved[name], table))
        for name in _MODEL_STEPS:
            setattr(engine.model, name, _Timed(f"model.{name}", getattr(engine.model, name), table))
        tokenizer = engine.nlp.tokenizer
        engine.nlp.tokenizer = _Timed("tokenizer", tokenizer, table)  # type: ignore[assignment]
        # spaCy keeps (name, component) pairs; a component without .pipe is simply called.
        components = engine.nlp._components  # noqa: SLF001 - a benchmark's instrumentation
        for i, (name, proc) in enumerate(components):
            components[i] = (name, _TimedComponent(name, proc, table))
        start = time.perf_counter()
        for result in engine.check_many(texts):
            to_dict_start = time.perf_counter()
            data = result.to_dict()
            table["Result.to_dict"] += time.perf_counter() - to_dict_start
            json_start = time.perf_counter()
            json.dumps(data)
            table["json.dumps"] += time.perf_counter() - json_start
        total = time.perf_counter() - start
    finally:
        for name, func in saved.items():
            setattr(engine_module, name, func)
    return dict(table), total


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def describe(texts: list[str]) -> str:
    nlp = spacy.blank("en")
    tokens = [len(nlp.make_doc(t)) for t in texts]
    new_words = len(nlp.vocab) / len(texts)
    words = statistics.median(len(t.split()) for t in texts)
    return (
        f"{len(texts)} notes, median {words:.0f} words / {statistics.median(tokens):.0f} tokens, "
        f"{new_words:.1f} distinct token forms per note"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=1000, help="varied long notes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300, help="other notes run first (warm)")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, spaCy {spacy.__version__}\n"
    )
    sets = {
        "varied long notes": varied_long_notes(args.notes),
        "corpus notes": [note.text for note in load_notes()],
    }
    warmup = varied_long_notes(args.warmup, seed=99)  # other notes, same kind
    for name, texts in sets.items():
        print(f"## {name}: {describe(texts)}\n")
        cold = rates(texts, [], args.rounds)
        warm = rates(texts, warmup, args.rounds)
        cold_floor = cold["spaCy blank English tokenizer"]
        warm_floor = warm["spaCy blank English tokenizer"]
        print(
            table(
                [
                    "path",
                    "cold: notes/s",
                    "ratio to the tokenizer",
                    f"warm ({len(warmup)} other notes first): notes/s",
                    "ratio to the tokenizer",
                ],
                [
                    [
                        k,
                        f"{v:,.0f}",
                        f"{v / cold_floor:.2f}",
                        f"{warm[k]:,.0f}",
                        f"{warm[k] / warm_floor:.2f}",
                    ]
                    for k, v in cold.items()
                ],
            )
        )
        stages, total = _in_child(stage_table, texts, warmup)
        print(
            f"\nStages, warm, one instrumented run ({total / len(texts) * 1000:.2f} ms per note):\n"
        )
        stages["everything else (result assembly, evidence, loops)"] = total - sum(stages.values())
        rows = sorted(stages.items(), key=lambda kv: -kv[1])
        print(
            table(
                ["stage", "ms per note", "share"],
                [[k, f"{v / len(texts) * 1000:.3f}", f"{v / total:.0%}"] for k, v in rows],
            )
        )
        print()


if __name__ == "__main__":
    main()
