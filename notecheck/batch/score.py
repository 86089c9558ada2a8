"""Scoring prepared rows with the engine, in this process or in worker processes."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from notecheck.batch.prepare import Prepared

if TYPE_CHECKING:
    from notecheck.engine import Engine
    from notecheck.result import Result

DEFAULT_CHUNK = 256


# ------------------------------------------------------------------------------ scoring


_worker_engine: Engine | None = None
_worker_setup: tuple[str | None, str | None] | None = None


def _init_worker(model_dir: str | None, profile: str | None = None) -> None:
    """Load the engine once per process (reused across runs with the same model and profile)."""
    global _worker_engine, _worker_setup
    if _worker_engine is None or _worker_setup != (model_dir, profile):
        from notecheck.engine import Engine

        _worker_engine = Engine(model_dir, profile=profile)
        _worker_setup = (model_dir, profile)


def _exit_with_parent(parent: int) -> None:
    """Stop this worker when the batch that started it is gone (kill -9 leaves no goodbye)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _init_pool_worker(model_dir: str | None, parent: int, profile: str | None = None) -> None:
    """A worker process: the engine, plus a watchdog so a killed batch leaves no orphans."""
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    _init_worker(model_dir, profile)


@dataclass(frozen=True)
class Scored:
    """What the batch keeps of one engine result: labels, minutes and rule ids, no note text."""

    label: str
    confidence: float
    decided_by: str  # "model", or "rules" when a rule decided over it (confidence is the model's)
    needs_review: bool
    review_reasons: tuple[str, ...]  # generated text, never the note's
    billed_code_matches: bool | None
    minutes: float | None
    units: int | None
    billable_minutes: float | None
    non_billable_minutes: float | None
    units_supported: int | None
    units_at_risk: int | None
    time_split: str | None
    non_billable_rules: tuple[str, ...]
    billable_rules: tuple[str, ...]
    documentation_failures: tuple[str, ...]
    model_version: str

    @classmethod
    def of(cls, result: Result) -> Scored:
        """The batch's view of an engine result."""
        time = result.time
        return cls(
            label=result.label,
            confidence=round(result.confidence, 4),
            decided_by=str(result.extra.get("decided_by", "model")),
            needs_review=result.needs_review,
            review_reasons=tuple(result.review_reasons),
            billed_code_matches=result.billed_code_matches,
            minutes=result.minutes,
            units=result.units,
            billable_minutes=time.billable_minutes if time else None,
            non_billable_minutes=time.non_billable_minutes if time else None,
            units_supported=time.units_supported if time else None,
            units_at_risk=time.units_at_risk if time else None,
            time_split=time.split if time else None,
            non_billable_rules=tuple(sorted({e.rule_id for e in result.non_billable_flags})),
            billable_rules=tuple(
                sorted(
                    {e.rule_id for e in result.evidence if e.active and e.effect == "billable-cue"}
                )
            ),
            documentation_failures=tuple(
                d.check for d in result.documentation if d.status == "fail"
            ),
            model_version=result.model_version,
        )

    def columns(self) -> dict[str, Any]:
        """The output columns, in order (lists where a row holds several values)."""
        return {
            f.name: list(value) if isinstance(value := getattr(self, f.name), tuple) else value
            for f in fields(self)
        }


@dataclass(frozen=True)
class Failed:
    """A row that was not scored, and why: ``"code: message"`` (the message may hold colons)."""

    reason: str

    @property
    def code(self) -> str:
        """The error code, the part before the first ": "."""
        return self.reason.partition(": ")[0]


Outcome = Scored | Failed


def _score_chunk(items: list[dict[str, Any]]) -> list[Outcome]:
    """Worker side: score a chunk; outcomes are small and picklable."""
    from notecheck.engine import CheckError

    assert _worker_engine is not None
    return [
        Failed(f"{outcome.code}: {outcome.message}")
        if isinstance(outcome, CheckError)
        else Scored.of(outcome)
        for outcome in _worker_engine.check_many(items, batch_size=len(items) or 1)
    ]


def score_stream(
    prepared: Iterable[Prepared],
    *,
    jobs: int = 1,
    chunk_size: int = DEFAULT_CHUNK,
    model_dir: str | None = None,
    profile: str | None = None,
) -> Iterator[tuple[Prepared, Outcome]]:
    """Score prepared rows in order with ``profile``'s engine, yielding ``(prepared, outcome)``.

    A row that failed to prepare comes back as ``Failed`` with its reason.
    """

    def chunks() -> Iterator[list[Prepared]]:
        chunk: list[Prepared] = []
        for item in prepared:
            chunk.append(item)
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def payload(chunk: list[Prepared]) -> list[dict[str, Any]]:
        return [
            {
                "text": p.text,
                "billed_code": p.billed_code,
                "minutes": p.minutes,
                "staff_level": p.staff_level,
            }
            for p in chunk
            if p.error is None
        ]

    def merge(chunk: list[Prepared], scored: list[Outcome]) -> Iterator[tuple[Prepared, Outcome]]:
        it = iter(scored)
        for p in chunk:
            yield (p, Failed(p.error)) if p.error is not None else (p, next(it))

    if jobs <= 1:
        _init_worker(model_dir, profile)
        for chunk in chunks():
            yield from merge(chunk, _score_chunk(payload(chunk)))
        return
    # A bounded window of chunks in flight keeps memory flat for any input size.
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init_pool_worker, initargs=(model_dir, os.getpid(), profile)
    ) as pool:
        window: deque[tuple[list[Prepared], Future[list[Outcome]]]] = deque()
        for chunk in chunks():
            window.append((chunk, pool.submit(_score_chunk, payload(chunk))))
            if len(window) >= jobs * 2:
                done_chunk, future = window.popleft()
                yield from merge(done_chunk, future.result())
        while window:
            done_chunk, future = window.popleft()
            yield from merge(done_chunk, future.result())
