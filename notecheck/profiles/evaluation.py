"""Evaluation of a profile on notes written from its own seed (``training_data/profiles/<name>/``).

The other profiles have no training corpus, so there is nothing to cross-validate. Each has two
sets, both from its seed, both in writers' own words:

- ``eval.jsonl``, written together with the profile's rules: the rules' authors tried their
  patterns on it, so it is an optimistic reading;
- ``heldout.jsonl``, written by someone who never saw the rules or the first set: the honest
  estimate, and the one the README quotes.

Beside the engine, three readings of the same notes show where the accuracy comes from:

- ``rules only``: the profile's rules vote (a billable cue wins; non-billable hits alone vote
  non-billable); a note no rule speaks to counts as billable, the commonest outcome;
- ``borrowed model only``: the Illinois model's probabilities summed onto the profile's labels;
- ``Illinois engine, mapped``: what a user would get by running the default profile and
  mapping its labels — the error the profile exists to avoid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from notecheck.data import default_data_dir
from notecheck.decision import rules_vote
from notecheck.errors import ProfileEvalError  # re-exported: raised here
from notecheck.profiles import Profile, load_profile
from notecheck.seeds import parse_citation

FORMATS = ("DAP", "SOAP", "GIRP", "narrative", "template")
_KEYS = {"id", "format", "text", "label", "source", "minutes"}
# A note must not state its verdict: these words would hand it to the rules or the model.
_VERDICT_RE = re.compile(r"\b(?:non-?billable|not billable|billable|unbillable)\b", re.I)


@dataclass(frozen=True)
class ProfileNote:
    """One evaluation note of a profile."""

    id: str
    format: str
    text: str
    label: str
    source: str
    minutes: float | None


SPLITS = {
    "heldout": "never seen by the rules' authors",
    "eval": "written with the rules",
}


def eval_path(profile: str, data_dir: str | Path | None = None, split: str = "eval") -> Path:
    """Where a profile's evaluation set ``split`` ("eval" or "heldout") lives."""
    return Path(data_dir or default_data_dir()) / "profiles" / profile / f"{split}.jsonl"


def load_profile_notes(
    profile: Profile, data_dir: str | Path | None = None, split: str = "eval"
) -> list[ProfileNote]:
    """The profile's evaluation notes, validated.

    Raises
    ------
    ProfileEvalError
        For a missing file, a bad record, a label outside the profile, a citation to another
        seed, a duplicate id or a note that states its own verdict.
    """
    path = eval_path(profile.name, data_dir, split)
    if not path.is_file():
        raise ProfileEvalError(f"{path}: no {split} set for profile {profile.name!r}")
    notes: list[ProfileNote] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProfileEvalError(f"{where}: {exc}") from exc
        if not isinstance(raw, dict) or set(raw) != _KEYS:
            raise ProfileEvalError(f"{where}: a record has exactly {sorted(_KEYS)}")
        if raw["label"] not in profile.label_codes:
            raise ProfileEvalError(
                f"{where}: label {raw['label']!r} is not one of {profile.label_codes}"
            )
        if raw["format"] not in FORMATS:
            raise ProfileEvalError(f"{where}: format {raw['format']!r} is not one of {FORMATS}")
        try:
            seed_file, _ = parse_citation(raw["source"])
        except ValueError as exc:
            raise ProfileEvalError(f"{where}: {exc}") from exc
        if seed_file.split("_", 1)[0] not in profile.sources:
            raise ProfileEvalError(f"{where}: source {raw['source']!r} is not this profile's seed")
        text = raw["text"]
        if not isinstance(text, str) or not text.strip():
            raise ProfileEvalError(f"{where}: text must be a non-empty string")
        verdict = _VERDICT_RE.search(text) or any(
            re.search(rf"\b{re.escape(code)}\b", text) for code in profile.billable_labels
        )
        if verdict:
            raise ProfileEvalError(f"{where}: the note states a verdict or a service code")
        if raw["id"] in seen:
            raise ProfileEvalError(f"{where}: duplicate id {raw['id']!r}")
        seen.add(raw["id"])
        minutes = raw["minutes"]
        if minutes is not None and (
            isinstance(minutes, bool) or not isinstance(minutes, (int, float))
        ):
            raise ProfileEvalError(f"{where}: minutes must be a number or null")
        notes.append(
            ProfileNote(raw["id"], raw["format"], text, raw["label"], raw["source"], minutes)
        )
    if not notes:
        raise ProfileEvalError(f"{path}: no notes")
    return notes


def label_metrics(
    profile: Profile, gold: Sequence[str], predicted: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and non-billable recall/precision over the profile's labels."""
    labels = list(profile.label_codes)
    p, r, f, _ = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    nb = labels.index(profile.non_billable)
    return {
        "accuracy": round(float(np.mean(np.array(gold) == np.array(predicted))), 4),
        "macro_f1": round(float(np.mean(f)), 4),
        "non_billable_recall": round(float(r[nb]), 4),
        "non_billable_precision": round(float(p[nb]), 4),
    }


def evaluate_profile(
    name: str,
    data_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score the profile on each of its evaluation sets that exists (held out first)."""
    from notecheck.engine import Engine

    profile = load_profile(name)
    engine = Engine(profile=profile)
    illinois = (
        Engine(profile=profile.borrowed_model, model=engine.model)
        if profile.borrowed_model
        else None
    )
    splits = {}
    for split in SPLITS:
        if eval_path(name, data_dir, split).is_file():
            notes = load_profile_notes(profile, data_dir, split)
            if progress:
                progress(f"{name}: checking {len(notes)} {split} notes")
            splits[split] = _evaluate_split(profile, engine, illinois, notes)
    if not splits:
        raise ProfileEvalError(f"profile {name!r} has no evaluation set")
    return {"profile": name, "splits": splits}


def _evaluate_split(
    profile: Profile, engine: Any, illinois: Any, notes: list[ProfileNote]
) -> dict[str, Any]:
    from notecheck.engine import rule_votes
    from notecheck.result import Result

    name = profile.name
    texts = [n.text for n in notes]
    results = [r for r in engine.check_many(texts) if isinstance(r, Result)]
    gold = [n.label for n in notes]
    report: dict[str, Any] = {
        "profile": name,
        "notes": len(notes),
        "by_label": {code: gold.count(code) for code in profile.label_codes},
        "engine": label_metrics(profile, gold, [r.label for r in results]),
        "needs_review_share": round(float(np.mean([r.needs_review for r in results])), 4),
    }
    billable = profile.billable_labels[0]
    votes = [rule_votes(doc, engine.catalog) for doc in engine.parse_with_profile_rules(texts)]
    rules_only = [
        rules_vote(v, profile.label_codes, profile.non_billable) or billable for v in votes
    ]
    report["rules_only"] = label_metrics(profile, gold, rules_only)
    if profile.borrowed_model:
        # A borrowing profile's probabilities are the borrowed model's, summed onto its labels.
        borrowed = [max(r.probabilities, key=r.probabilities.__getitem__) for r in results]
        report["borrowed_model_only"] = label_metrics(profile, gold, borrowed)
        mapped = [
            profile.model_map[r.label] for r in illinois.check_many(texts) if isinstance(r, Result)
        ]
        report["illinois_engine_mapped"] = label_metrics(profile, gold, mapped)
    report["misses"] = [
        {"id": n.id, "gold": n.label, "predicted": r.label, "source": n.source}
        for n, r in zip(notes, results, strict=True)
        if n.label != r.label
    ]
    return report


def format_profile_report(report: dict[str, Any]) -> str:
    """Each split's report as a Markdown table (README, Profiles)."""
    return "\n\n".join(
        _format_split(report["profile"], split, found) for split, found in report["splits"].items()
    )


def _format_split(name: str, split: str, report: dict[str, Any]) -> str:
    lines = [
        f"{name}, {split} set ({SPLITS[split]}): {report['notes']} notes, "
        + ", ".join(f"{k} {v}" for k, v in report["by_label"].items()),
        "",
        "| reading | accuracy | macro-F1 | NON-BILLABLE recall | NON-BILLABLE precision |",
        "|---|---|---|---|---|",
    ]
    names = {
        "engine": "engine (profile rules + borrowed model)",
        "rules_only": "rules only",
        "borrowed_model_only": "borrowed model only",
        "illinois_engine_mapped": "Illinois engine, labels mapped",
    }
    for key, title in names.items():
        if key in report:
            m = report[key]
            lines.append(
                f"| {title} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | "
                f"{m['non_billable_recall']:.3f} | {m['non_billable_precision']:.3f} |"
            )
    lines.append("")
    lines.append(f"needs review: {report['needs_review_share']:.0%} of notes")
    if report["misses"]:
        lines.append(
            "misses: "
            + ", ".join(f"{m['id']} ({m['gold']} → {m['predicted']})" for m in report["misses"])
        )
    return "\n".join(lines)


def profile_card(report: dict[str, Any]) -> str:
    """The profile's card (``notecheck/profiles/<name>/CARD.md``): what it is, how it was measured."""
    from notecheck.catalog import load_catalog

    profile = load_profile(report["profile"])
    catalog = load_catalog(profile.folder.joinpath("rules.toml"))
    decisive = sum(rule.decisive for rule in catalog.rules)
    lines = [
        f"# Profile card: {profile.name}",
        "",
        f"{profile.title} — {profile.jurisdiction}.",
        "",
        f"- **Source:** seed {', '.join(profile.sources)} only; every rule cites it.",
        f"- **Labels:** {', '.join(profile.label_codes)}.",
        f"- **Rules:** {len(catalog.rules)} ({decisive} decisive), version `{catalog.version}`.",
        f"- **Units:** {profile.units.unit_minutes:g}-minute units, least billable time "
        f"{profile.units.minimum_minutes:g} minutes, partial units: {profile.units.partial}.",
    ]
    if profile.borrowed_model:
        lines.append(
            f"- **Model:** none of its own (no training corpus). It borrows `{profile.borrowed_model}`'s "
            "model: its probabilities are summed onto this profile's labels, and this profile's "
            f"rules decide wherever they vote unless the model is over {profile.override_below:.2f} "
            "sure. Notes the rules do not speak to get the borrowed model's verdict."
        )
    lines += [
        "",
        "## How it was evaluated",
        "",
        "Two sets of notes written from the seed in the writers' own words "
        f"(`training_data/profiles/{profile.name}/`). The set written with the rules is "
        "optimistic: its authors tried their patterns on it. The held-out set was written by "
        "someone who saw only the seed, never the rules or the other set: it is the estimate to "
        "trust. Forty notes is a small sample (one note is 2.5 points).",
        "",
        f"Command: `notecheck evaluate --profile {profile.name}`.",
        "",
        format_profile_report(report),
        "",
        "## What it does not cover",
        "",
        *[f"- {item}" for item in profile.not_covered],
        "",
    ]
    return "\n".join(lines)
