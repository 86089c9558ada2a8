"""The structured evaluation split: span-annotated notes that training never sees.

``training_data/eval/*.jsonl`` holds structured notes (DAP, SOAP, BIRP, GIRP, PIE, field
exports, print-outs) with gold activity spans, their kind and stated minutes, and "trap" phrases
that look like triggers but are no activity of the contact. Training reads only
``training_data/notes/``; this split measures what users see around the label:

- label accuracy (macro-F1, NON-BILLABLE recall) of the engine, the engine before sections and
  plain TF-IDF + LR, all trained on the same training notes;
- evidence precision: active non-billable or billable-cue rule hits that fall inside a gold
  activity of the same effect. A gold quote marks where an activity is stated; the activity is
  the sentence around the quote, cut where a neighbouring quote lies ("worked on his budget
  (40 min): ... writer prompted him to set aside $20" is one activity). The strict figure, hits
  inside the quoted words only, is reported beside it; evidence recall: gold activities found by at least one such hit;
  trap hits: traps that produced an active hit;
- units: how often ``units_supported`` equals the gold units, on notes that time every
  non-billable activity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from notecheck.activities import billable_units
from notecheck.data import Note, default_data_dir
from notecheck.labels import BILLABLE_LABELS, LABELS, NON_BILLABLE
from notecheck.seeds import parse_citation

EVAL_DIR = "eval"
FORMATS = ("DAP", "SOAP", "BIRP", "GIRP", "PIE", "template", "printout", "narrative")
ACTIVITY_KINDS = (*BILLABLE_LABELS, "non-billable")
_KEYS = {
    "id",
    "format",
    "text",
    "label",
    "source",
    "activities",
    "traps",
    "billed_minutes",
    "time",
}


@dataclass(frozen=True)
class GoldActivity:
    """A gold activity span: ``text[start:end]``, its kind and the minutes stated for it."""

    start: int
    end: int
    kind: str
    minutes: float | None


@dataclass(frozen=True)
class EvalNote:
    """One span-annotated structured note."""

    id: str
    format: str
    text: str
    label: str
    source: str
    activities: tuple[GoldActivity, ...]
    traps: tuple[tuple[int, int], ...]
    billed_minutes: float | None
    total_minutes: float | None
    billable_minutes: float | None
    part: str = ""  # the file it came from: splits are reported apart as well as together

    @property
    def gold_units(self) -> int | None:
        """Units the note supports, when it says how its time split."""
        if self.billable_minutes is None:
            return None
        return 0 if self.label == NON_BILLABLE else billable_units(self.billable_minutes)

    def as_note(self) -> Note:
        """The note as a corpus record (for the label metrics)."""
        return Note(
            self.id,
            self.text,
            self.label,
            self.source,
            f"eval-{self.id}",
            True,
            "note",
            self.total_minutes,
        )


class EvalSetError(ValueError):
    """The evaluation split does not match its schema."""


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise EvalSetError(f"{where}: expected a non-negative number or null")
    return float(value)


def _find(text: str, quote: Any, where: str) -> tuple[int, int]:
    if not isinstance(quote, str) or not quote.strip():
        raise EvalSetError(f"{where}: a quote must be a non-empty string")
    at = text.find(quote)
    if at < 0:
        raise EvalSetError(f"{where}: quote {quote[:40]!r} is not in the text")
    return at, at + len(quote)


def parse_record(raw: Any, where: str) -> EvalNote:
    """Validate one record and resolve its quotes to offsets."""
    if not isinstance(raw, dict):
        raise EvalSetError(f"{where}: a record must be an object")
    missing, unknown = _KEYS - raw.keys(), raw.keys() - _KEYS
    if missing or unknown:
        raise EvalSetError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    text, label = raw["text"], raw["label"]
    if not isinstance(text, str) or not text.strip():
        raise EvalSetError(f"{where}: text must be a non-empty string")
    if label not in LABELS:
        raise EvalSetError(f"{where}: label {label!r} is not one of {LABELS}")
    if raw["format"] not in FORMATS:
        raise EvalSetError(f"{where}: format {raw['format']!r} is not one of {FORMATS}")
    try:
        parse_citation(raw["source"])
    except ValueError as exc:
        raise EvalSetError(f"{where}: {exc}") from exc
    activities = []
    for n, item in enumerate(raw["activities"] or []):
        spot = f"{where} activity {n}"
        if not isinstance(item, dict) or set(item) != {"quote", "kind", "minutes"}:
            raise EvalSetError(f"{spot}: needs exactly quote, kind, minutes")
        if item["kind"] not in ACTIVITY_KINDS:
            raise EvalSetError(f"{spot}: kind {item['kind']!r} is not one of {ACTIVITY_KINDS}")
        start, end = _find(text, item["quote"], spot)
        activities.append(GoldActivity(start, end, item["kind"], _number(item["minutes"], spot)))
    traps = tuple(_find(text, t, f"{where} trap") for t in raw["traps"] or [])
    time = raw["time"]
    if not isinstance(time, dict) or set(time) != {
        "total_minutes",
        "non_billable_minutes",
        "billable_minutes",
    }:
        raise EvalSetError(
            f"{where}: time needs total_minutes, non_billable_minutes, billable_minutes"
        )
    return EvalNote(
        id=str(raw["id"]),
        format=raw["format"],
        text=text,
        label=label,
        source=raw["source"],
        activities=tuple(activities),
        traps=traps,
        billed_minutes=_number(raw["billed_minutes"], where),
        total_minutes=_number(time["total_minutes"], where),
        billable_minutes=_number(time["billable_minutes"], where),
    )


def load_eval_notes(data_dir: str | Path | None = None) -> list[EvalNote]:
    """Every record of ``training_data/eval/*.jsonl``, validated."""
    folder = Path(data_dir or default_data_dir()) / EVAL_DIR
    notes: list[EvalNote] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.jsonl")):
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{line_no}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalSetError(f"{where}: not JSON ({exc.msg})") from exc
            note = replace(parse_record(raw, where), part=path.stem)
            if note.id in seen:
                raise EvalSetError(f"{where}: duplicate id {note.id!r}")
            seen.add(note.id)
            notes.append(note)
    if not notes:
        raise EvalSetError(f"no evaluation notes under {folder}")
    return notes


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


# A sentence ends at a line break or at . ! ? followed by space and a capital, digit or quote.
_SENTENCE_END = re.compile(r"\n|[.!?](?=\s+[A-Z0-9\"'(])")


def activity_extents(note: EvalNote) -> list[tuple[int, int]]:
    """Each gold activity as the sentence around its quote, cut where a neighbour's quote lies."""
    bounds = sorted((g.start, g.end) for g in note.activities)
    extents = []
    for gold in note.activities:
        ends = [m.end() for m in _SENTENCE_END.finditer(note.text, 0, gold.start)]
        start = ends[-1] if ends else 0
        earlier = [e for s, e in bounds if s < gold.start]
        if earlier:
            start = max(start, max(earlier))
        while start < gold.start and note.text[start].isspace():
            start += 1
        boundary = _SENTENCE_END.search(note.text, gold.end)
        stop = boundary.start() if boundary else len(note.text)
        later = [s for s, _ in bounds if s > gold.start]
        if later:
            stop = min(stop, later[0])
        extents.append((min(start, gold.start), max(gold.end, stop)))
    return extents


@dataclass
class SpanScores:
    """Evidence and units scores over the evaluation split."""

    hits: int = 0
    correct_hits: int = 0
    strict_correct_hits: int = 0
    activities: int = 0
    found_activities: int = 0
    traps: int = 0
    trap_hits: int = 0
    timed_notes: int = 0
    units_right: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Rates and counts."""

        def rate(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "evidence_precision": rate(self.correct_hits, self.hits),
            "evidence_precision_strict": rate(self.strict_correct_hits, self.hits),
            "evidence_recall": rate(self.found_activities, self.activities),
            "trap_hit_rate": rate(self.trap_hits, self.traps),
            "units_accuracy": rate(self.units_right, self.timed_notes),
            "hits": self.hits,
            "activities": self.activities,
            "traps": self.traps,
            "timed_notes": self.timed_notes,
        }


def score_spans(notes: Sequence[EvalNote], results: Sequence[Any]) -> SpanScores:
    """Compare each result's active rule evidence and time split with the gold spans."""
    scores = SpanScores()
    for note, result in zip(notes, results, strict=True):
        hits = [
            e for e in result.evidence if e.active and e.effect in ("non-billable", "billable-cue")
        ]
        found: set[int] = set()
        extents = activity_extents(note)
        kinds = [
            "non-billable" if g.kind == "non-billable" else "billable" for g in note.activities
        ]
        for hit in hits:
            scores.hits += 1
            want = "billable" if hit.effect == "billable-cue" else "non-billable"
            span = (hit.start, hit.end)
            scores.strict_correct_hits += any(
                kind == want and _overlaps(span, (g.start, g.end))
                for kind, g in zip(kinds, note.activities, strict=True)
            )
            for i, (kind, extent) in enumerate(zip(kinds, extents, strict=True)):
                if kind == want and _overlaps(span, extent):
                    scores.correct_hits += 1
                    found.add(i)
                    break
        scores.activities += len(note.activities)
        scores.found_activities += len(found)
        for trap in note.traps:
            scores.traps += 1
            scores.trap_hits += any(_overlaps((h.start, h.end), trap) for h in hits)
        gold_units = note.gold_units
        if gold_units is not None and note.total_minutes is not None and note.label != NON_BILLABLE:
            scores.timed_notes += 1
            scores.units_right += (
                result.time is not None and result.time.units_supported == gold_units
            )
    return scores


def evaluate_split(
    train_notes: Sequence[Note],
    eval_notes: Sequence[EvalNote],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train each system on ``train_notes`` and score it on the evaluation split."""
    from notecheck.decision import decide
    from notecheck.engine import Engine
    from notecheck.evaluate import (
        MODEL_INPUT,
        _calibration_splits,
        fit_engine_model,
        metrics,
        parse_corpus,
    )
    from notecheck.model import TextModel, baseline_pipeline, build_pipeline
    from notecheck.nlp import build_nlp, catalog_of, section_rules_of

    gold = [n.label for n in eval_notes]
    as_notes = [n.as_note() for n in eval_notes]
    report: dict[str, Any] = {}

    if progress:
        progress("structured split: plain TF-IDF + LR and the engine before sections")
    # Both read the whole note, as they did before sections existed.
    old_nlp = build_nlp(sections=False)
    old_train, _ = parse_corpus(train_notes, old_nlp, model_input="full")
    old_eval, _ = parse_corpus(as_notes, old_nlp, model_input="full")
    baseline = baseline_pipeline().fit(old_train.rows, old_train.labels)
    report["tfidf_lr"] = metrics(gold, [str(x) for x in baseline.predict(old_eval.rows)])
    old = build_pipeline(calibration_cv=_calibration_splits(train_notes, 0))
    old.fit(old_train.rows, old_train.labels)
    classes = list(old.classes_)
    order = [classes.index(label) for label in LABELS]
    old_labels = []
    for row, votes in zip(old.predict_proba(old_eval.rows)[:, order], old_eval.votes, strict=True):
        old_labels.append(decide(dict(zip(LABELS, map(float, row), strict=True)), votes).label)
    report["engine_v1"] = metrics(gold, old_labels)
    parsed_train, catalog = parse_corpus(train_notes)

    if progress:
        progress("structured split: the engine")
    pipeline = fit_engine_model(parsed_train, list(range(len(train_notes))))
    nlp = build_nlp()
    model = TextModel(
        pipeline,
        {
            "model_version": "evaluation",
            "model_input": MODEL_INPUT,
            "ruleset_sha256": catalog_of(nlp).sha256,
            "sections_sha256": section_rules_of(nlp).sha256,
        },
    )
    engine = Engine(model=model)
    results = [engine.check(n.text, minutes=n.billed_minutes) for n in eval_notes]
    report["engine"] = metrics(gold, [r.label for r in results])
    report["engine"]["spans"] = score_spans(eval_notes, results).as_dict()
    report["parts"] = {}
    for part in sorted({n.part for n in eval_notes}):
        index = [i for i, n in enumerate(eval_notes) if n.part == part]
        scores = metrics([gold[i] for i in index], [results[i].label for i in index])
        report["parts"][part] = {
            "n_notes": len(index),
            "macro_f1": scores["macro_f1"],
            "non_billable_recall": scores["per_label"][NON_BILLABLE]["recall"],
            "spans": score_spans(
                [eval_notes[i] for i in index], [results[i] for i in index]
            ).as_dict(),
        }
    report["formats"] = {fmt: sum(1 for n in eval_notes if n.format == fmt) for fmt in FORMATS}
    report["n_notes"] = len(eval_notes)
    return report


STRUCTURED_SYSTEMS = {
    "tfidf_lr": "plain TF-IDF + logistic regression",
    "engine_v1": "engine before sections (whole note, every match counts)",
    "engine": "notecheck engine (sections, activities, time)",
}


def format_split_report(report: dict[str, Any]) -> str:
    """The structured split as markdown tables."""
    lines = [
        f"structured evaluation split: {report['n_notes']} notes ("
        + ", ".join(f"{k} {v}" for k, v in report["formats"].items() if v)
        + "), never trained on",
        "",
        "| system | macro-F1 | accuracy | NON-BILLABLE recall |",
        "|---|---|---|---|",
    ]
    for key, name in STRUCTURED_SYSTEMS.items():
        m = report[key]
        lines.append(
            f"| {name} | {m['macro_f1']:.3f} | {m['accuracy']:.3f} | "
            f"{m['per_label'][NON_BILLABLE]['recall']:.3f} |"
        )
    spans = report["engine"]["spans"]

    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines += [
        "",
        "| evidence precision | evidence recall | trap hit rate | units_supported = gold |",
        "|---|---|---|---|",
        f"| {show(spans['evidence_precision'])} ({spans['hits']} active hits; "
        f"{show(spans['evidence_precision_strict'])} inside the quoted words) | "
        f"{show(spans['evidence_recall'])} ({spans['activities']} gold activities) | "
        f"{show(spans['trap_hit_rate'])} ({spans['traps']} traps) | "
        f"{show(spans['units_accuracy'])} ({spans['timed_notes']} notes timing every activity) |",
    ]
    parts = report.get("parts") or {}
    if len(parts) > 1:
        lines += [
            "",
            "| file | notes | engine macro-F1 | NON-BILLABLE recall | evidence precision "
            "| evidence recall | trap hit rate | units = gold |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for part, m in parts.items():
            sp = m["spans"]
            lines.append(
                f"| {part} | {m['n_notes']} | {m['macro_f1']:.3f} | "
                f"{m['non_billable_recall']:.3f} | {show(sp['evidence_precision'])} | "
                f"{show(sp['evidence_recall'])} | {show(sp['trap_hit_rate'])} | "
                f"{show(sp['units_accuracy'])} |"
            )
    return "\n".join(lines)
