"""Training and grouped cross-validation of the engine and its baselines.

Accuracy is only ever measured on held-out scenario groups (``notecheck.data.grouped_folds``):
paraphrases of one seed scenario never sit on both sides of a split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from notecheck.catalog import RuleCatalog
from notecheck.data import Note, corpus_sha256, default_data_dir, grouped_folds, load_notes
from notecheck.decision import RuleVotes, decide
from notecheck.engine import context_text, model_text, rule_tokens, rule_votes
from notecheck.labels import BILLABLE_LABELS, LABELS, NON_BILLABLE
from notecheck.model import (
    baseline_pipeline,
    build_pipeline,
    default_model_dir,
    make_rows,
    save_model,
)
from notecheck.nlp import build_nlp, catalog_of, parse_texts, section_rules_of

N_SPLITS = 5
SEED = 0
CALIBRATION_SPLITS = 3

# The keyword baseline: what a reviewer's Ctrl-F list would flag.
KEYWORDS = re.compile(
    r"\b(transport\w*|drove|drive|ride|accompan\w*|escort\w*|wait\w*|voicemail|vm|fax\w*|"
    r"cop(y|ies|ied)|paperwork|report|supervis\w*|staffing|no answer|not home|schedul\w*|"
    r"reschedul\w*|vitals|refill|groceries|grocery|deposit|check request|flyer\w*|translat\w*)\b",
    re.IGNORECASE,
)


@dataclass
class Parsed:
    """The corpus parsed once: texts, labels, groups, rule tokens and rule votes."""

    notes: list[Note]
    rows: np.ndarray
    votes: list[RuleVotes]
    has_activity: list[bool]

    @property
    def labels(self) -> np.ndarray:
        """Gold labels."""
        return np.array([n.label for n in self.notes])


MODEL_INPUTS = ("sections", "sections+context", "full")
#: What the shipped model reads, chosen by grouped CV and the structured split (README,
#: Accuracy): the counting sections as text, goal/plan/assessment text in a block of its own
#: at a low weight.
MODEL_INPUT = "sections+context"
CONTEXT_WEIGHT = 0.3


def parse_corpus(
    notes: Sequence[Note], catalog_nlp: Any = None, *, model_input: str = MODEL_INPUT
) -> tuple[Parsed, RuleCatalog]:
    """Run the rule pipeline over every note once.

    ``model_input`` is what the model reads: ``sections`` (the counting sections only, see
    ``notecheck.engine.model_text``), ``sections+context`` (those plus goal/plan/assessment
    text as a separate column) or ``full`` (the whole note, the engine before sections).
    """
    if model_input not in MODEL_INPUTS:
        raise ValueError(f"model_input must be one of {MODEL_INPUTS}")
    nlp = catalog_nlp or build_nlp()
    catalog = catalog_of(nlp)
    sections = section_rules_of(nlp)
    docs = list(parse_texts(nlp, [n.text for n in notes]))
    texts = [d.text if model_input == "full" else model_text(d, sections) for d in docs]
    context = (
        [context_text(d, sections) for d in docs] if model_input == "sections+context" else None
    )
    rows = make_rows(texts, [rule_tokens(d, catalog) for d in docs], context)
    return (
        Parsed(
            list(notes),
            rows,
            [rule_votes(d, catalog) for d in docs],
            [bool(t.strip()) for t in texts],
        ),
        catalog,
    )


def metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """Per-label precision/recall/F1/support, macro-F1, accuracy and the confusion matrix."""
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=list(LABELS), zero_division=0
    )
    per_label = {
        label: {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i, label in enumerate(LABELS)
    }
    return {
        "per_label": per_label,
        "macro_f1": round(float(np.mean(f)), 4),
        "accuracy": round(float(np.mean(np.array(y_true) == np.array(y_pred))), 4),
        "confusion": confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist(),
    }


def _calibration_splits(notes: Sequence[Note], seed: int) -> list[tuple[list[int], list[int]]]:
    return grouped_folds(notes, n_splits=CALIBRATION_SPLITS, seed=seed)


def fit_engine_model(parsed: Parsed, index: Sequence[int], seed: int = SEED, **params: Any) -> Any:
    """Fit the engine's Pipeline on ``index`` rows (calibrated on grouped inner splits)."""
    notes = [parsed.notes[i] for i in index]
    if parsed.rows.shape[1] == 3:
        params.setdefault("context_weight", CONTEXT_WEIGHT)
    pipeline = build_pipeline(calibration_cv=_calibration_splits(notes, seed), **params)
    pipeline.fit(parsed.rows[list(index)], [n.label for n in notes])
    return pipeline


def _engine_predict(
    pipeline: Any, parsed: Parsed, index: Sequence[int], use_decision: bool
) -> list[str]:
    classes = list(pipeline.classes_)
    order = [classes.index(label) for label in LABELS]
    probs = pipeline.predict_proba(parsed.rows[list(index)])[:, order]
    out = []
    for i, row in zip(index, probs, strict=True):
        probabilities = dict(zip(LABELS, map(float, row), strict=True))
        if use_decision:
            out.append(
                decide(probabilities, parsed.votes[i], has_activity=parsed.has_activity[i]).label
            )
        else:
            out.append(max(LABELS, key=lambda label: probabilities[label]))
    return out


def _keyword_predict(parsed: Parsed, train: Sequence[int], test: Sequence[int]) -> list[str]:
    billable = [parsed.notes[i].label for i in train if parsed.notes[i].label in BILLABLE_LABELS]
    majority = max(BILLABLE_LABELS, key=billable.count)
    return [NON_BILLABLE if KEYWORDS.search(parsed.notes[i].text) else majority for i in test]


def cross_val_predictions(
    parsed: Parsed,
    *,
    n_splits: int = N_SPLITS,
    seed: int = SEED,
    systems: Sequence[str] = ("keyword", "tfidf_lr", "model_only", "engine"),
    progress: Callable[[str], None] | None = None,
    **params: Any,
) -> dict[str, list[str]]:
    """Held-out predictions of each system for every note, from the same grouped folds."""
    folds = grouped_folds(parsed.notes, n_splits=n_splits, seed=seed)
    predictions: dict[str, list[str]] = {s: [""] * len(parsed.notes) for s in systems}
    whole = make_rows([n.text for n in parsed.notes], [""] * len(parsed.notes))
    for k, (train, test) in enumerate(folds, 1):
        if progress:
            progress(f"fold {k}/{len(folds)}: {len(train)} train, {len(test)} test")
        if "keyword" in systems:
            for i, label in zip(test, _keyword_predict(parsed, train, test), strict=True):
                predictions["keyword"][i] = label
        if "tfidf_lr" in systems:
            # The floor reads the whole note, as a plain classifier would.
            baseline = baseline_pipeline().fit(whole[train], parsed.labels[train])
            for i, label in zip(test, baseline.predict(whole[test]), strict=True):
                predictions["tfidf_lr"][i] = str(label)
        if "engine" in systems or "model_only" in systems:
            pipeline = fit_engine_model(parsed, train, seed=seed, **params)
            for name, use_decision in (("model_only", False), ("engine", True)):
                if name in systems:
                    labels = _engine_predict(pipeline, parsed, test, use_decision)
                    for i, label in zip(test, labels, strict=True):
                        predictions[name][i] = label
    return predictions


def cross_validate(
    parsed: Parsed,
    *,
    n_splits: int = N_SPLITS,
    seed: int = SEED,
    systems: Sequence[str] = ("keyword", "tfidf_lr", "model_only", "engine"),
    progress: Callable[[str], None] | None = None,
    **params: Any,
) -> dict[str, dict[str, Any]]:
    """Grouped k-fold CV of each system on the same folds; returns metrics per system."""
    predictions = cross_val_predictions(
        parsed, n_splits=n_splits, seed=seed, systems=systems, progress=progress, **params
    )
    gold = list(parsed.labels)
    hard = [i for i, n in enumerate(parsed.notes) if n.hard]
    report = {}
    for system, preds in predictions.items():
        report[system] = metrics(gold, preds)
        report[system]["hard_macro_f1"] = metrics(
            [gold[i] for i in hard], [preds[i] for i in hard]
        )["macro_f1"]
    return report


def cross_validate_with_v1(
    notes: Sequence[Note],
    *,
    n_splits: int = N_SPLITS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """``cross_validate`` of every system, plus the engine before sections on the same folds."""
    parsed, _ = parse_corpus(notes)
    report = cross_validate(parsed, n_splits=n_splits, progress=progress)
    if progress:
        progress("the engine before sections (whole notes, every match counts)")
    old, _ = parse_corpus(notes, build_nlp(sections=False), model_input="full")
    report["engine_v1"] = cross_validate(old, n_splits=n_splits, systems=("engine",))["engine"]
    return {k: report[k] for k in ("keyword", "tfidf_lr", "engine_v1", "model_only", "engine")}


SYSTEM_NAMES = {
    "keyword": "keyword list baseline",
    "tfidf_lr": "plain TF-IDF + logistic regression",
    "engine_v1": "engine before sections (whole note, every match counts)",
    "model_only": "engine model alone (no decision layer)",
    "engine": "notecheck engine (rules + model + decision)",
}


def format_report(report: dict[str, dict[str, Any]]) -> str:
    """Plain-text tables: one per system, plus the engine's confusion matrix."""
    lines = []
    summary = [
        "| system | macro-F1 | accuracy | NON-BILLABLE recall | hard-case macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for system, m in report.items():
        summary.append(
            f"| {SYSTEM_NAMES.get(system, system)} | {m['macro_f1']:.3f} | {m['accuracy']:.3f} | "
            f"{m['per_label'][NON_BILLABLE]['recall']:.3f} | {m['hard_macro_f1']:.3f} |"
        )
    lines += summary
    for system, m in report.items():
        lines += [
            "",
            f"{SYSTEM_NAMES.get(system, system)}:",
            "",
            "| label | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for label in LABELS:
            row = m["per_label"][label]
            lines.append(
                f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1']:.3f} | {row['support']} |"
            )
    if "engine" in report:
        lines += [
            "",
            "engine confusion matrix (rows = gold, columns = predicted):",
            "",
            "| gold \\ predicted | " + " | ".join(LABELS) + " |",
            "|---" * (len(LABELS) + 1) + "|",
        ]
        for label, row in zip(LABELS, report["engine"]["confusion"], strict=True):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def train(
    data_dir: str | Path | None = None,
    model_dir: str | Path | None = None,
    *,
    with_cv: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Cross-validate, fit on the whole corpus, and write the artifact + model card."""
    data_path = Path(data_dir) if data_dir else default_data_dir()
    out_dir = Path(model_dir) if model_dir else default_model_dir()
    notes = load_notes(data_path)
    parsed, catalog = parse_corpus(notes)
    report = (
        cross_validate(parsed, systems=("tfidf_lr", "engine"), progress=progress) if with_cv else {}
    )
    if progress:
        progress(f"fitting the final model on {len(notes)} notes")
    pipeline = fit_engine_model(parsed, list(range(len(notes))))
    meta = save_model(
        pipeline,
        out_dir,
        {
            "training_data_sha256": corpus_sha256(data_path),
            "training_records": len(notes),
            "ruleset_version": catalog.version,
            "ruleset_sha256": catalog.sha256,
            "sections_sha256": section_rules_of(build_nlp()).sha256,
            "model_input": MODEL_INPUT,
            "context_weight": CONTEXT_WEIGHT,
            "cv": {"n_splits": N_SPLITS, "seed": SEED, "grouped_by": "group"},
            "cv_metrics": report,
        },
    )
    (out_dir / "MODEL_CARD.md").write_text(model_card(meta, report))
    return meta


def model_card(meta: dict[str, Any], report: dict[str, dict[str, Any]]) -> str:
    """The generated model card (markdown)."""
    libs = ", ".join(f"{k} {v}" for k, v in meta["libraries"].items())
    body = [
        "# notecheck model card — Illinois Rule 132 case-management classifier",
        "",
        f"- model version: `{meta['model_version']}`",
        f"- rule catalog: `{meta['ruleset_version']}` (sha256 `{meta['ruleset_sha256'][:16]}…`)",
        f"- training data: {meta['training_records']} notes, sha256 "
        f"`{meta['training_data_sha256'][:16]}…` (`training_data/notes/*.jsonl`)",
        f"- libraries: {libs}",
        "- labels: " + ", ".join(meta["labels"]),
        "",
        "## What it is",
        "",
        "A scikit-learn Pipeline: word 1–2-gram TF-IDF and character 3–5-gram TF-IDF of the",
        "note's activity and response sections, word TF-IDF of its goal/plan/assessment text in",
        f"a separate block (weight {CONTEXT_WEIGHT}), and the rule catalog's hits (active, or",
        "discounted by context or section) → logistic regression, sigmoid-calibrated on grouped",
        "inner splits. A pure decision function combines it with the rules' votes",
        "(`notecheck/decision.py`). Training is deterministic.",
        "",
        "## Intended use",
        "",
        "Flag case-management progress notes whose text does not support the billed Rule 132",
        "service, for a human documentation reviewer. It is not a billing decision by itself.",
        "",
        "## Evaluation — grouped 5-fold cross-validation (groups = seed scenarios)",
        "",
    ]
    body.append(format_report(report) if report else "(trained without cross-validation)")
    body += [
        "",
        "## Limits",
        "",
        "- The corpus is written from five public rule documents, not from real EHR notes;",
        "  expect lower accuracy on real notes until it is validated on them.",
        "- Labels follow Illinois Rule 132; other jurisdictions need their own profile.",
        "",
        "## Dependencies it was trained and tested with",
        "",
        "Audit these (or `notecheck versions` on the deployed machine) with `pip-audit -r` where",
        "an advisory database is reachable:",
        "",
        "```",
        *(f"{name}=={version}" for name, version in meta.get("dependencies", {}).items()),
        "```",
        "",
    ]
    return "\n".join(body)
