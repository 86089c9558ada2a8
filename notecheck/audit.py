"""Per-rule audit against the labeled corpus: coverage, overlap, conflicts, accuracy.

A rule "agrees" with a note's gold label when its effect points the same way: a non-billable
or other-service rule on a NON-BILLABLE note, a billable cue on a note of its label, an
"excludes" rule on a note of any other label. Rules with low accuracy or many conflicts are
the ones to review or retire.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from notecheck.data import Note
from notecheck.labels import NON_BILLABLE
from notecheck.nlp import build_nlp, catalog_of, rule_matches


@dataclass
class RuleAudit:
    """One row of the audit."""

    rule_id: str
    effect: str
    fires: int  # notes where the rule matched at all
    active: int  # notes where at least one match counted
    discounted: int  # notes where every match was discounted by context
    overlaps: int  # active notes where a rule voting for another outcome was also active
    conflicts: int  # active notes whose gold label disagrees with the rule
    accuracy: float | None  # agreeing / active
    gold: dict[str, int]


def _vote(effect: str, label: str | None) -> str:
    return NON_BILLABLE if effect in ("non-billable", "other-service") else f"{effect}:{label}"


def _agrees(effect: str, label: str | None, gold: str) -> bool:
    if effect in ("non-billable", "other-service"):
        return gold == NON_BILLABLE
    if effect == "billable-cue":
        return gold == label
    if effect == "context":
        return True  # votes for nothing
    return gold != label  # excludes


def audit_rules(notes: Sequence[Note | Any], rules: Traversable | None = None) -> list[RuleAudit]:
    """Audit every rule of a catalog (default: Illinois') over labeled ``notes``."""
    if rules is None:
        nlp = build_nlp()
    else:
        with resources.as_file(rules) as path:
            nlp = build_nlp(str(path))
    catalog = catalog_of(nlp)
    fires: Counter[str] = Counter()
    actives: Counter[str] = Counter()
    overlaps: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    gold: dict[str, Counter[str]] = {r.id: Counter() for r in catalog.rules}
    for note, doc in zip(notes, nlp.pipe([n.text for n in notes], batch_size=256), strict=True):
        matched: set[str] = set()
        counted: set[str] = set()
        for match in rule_matches(doc).values():
            matched.add(match.rule_id)
            if match.counts:
                counted.add(match.rule_id)
        votes = {_vote(catalog.by_id[r].effect, catalog.by_id[r].label) for r in counted}
        for rule_id in matched:
            fires[rule_id] += 1
        for rule_id in counted:
            rule = catalog.by_id[rule_id]
            actives[rule_id] += 1
            gold[rule_id][note.label] += 1
            if len(votes - {_vote(rule.effect, rule.label)}) > 0:
                overlaps[rule_id] += 1
            if not _agrees(rule.effect, rule.label, note.label):
                conflicts[rule_id] += 1
    rows = []
    for rule in catalog.rules:
        n_active = actives[rule.id]
        rows.append(
            RuleAudit(
                rule_id=rule.id,
                effect=rule.effect if not rule.label else f"{rule.effect}:{rule.label}",
                fires=fires[rule.id],
                active=n_active,
                discounted=fires[rule.id] - n_active,
                overlaps=overlaps[rule.id],
                conflicts=conflicts[rule.id],
                accuracy=round(1 - conflicts[rule.id] / n_active, 3) if n_active else None,
                gold=dict(gold[rule.id]),
            )
        )
    return rows


def format_audit(rows: Sequence[RuleAudit]) -> str:
    """The audit as a plain-text table, least accurate rules first."""
    header = f"{'rule':<34} {'effect':<22} {'fires':>5} {'active':>6} {'disc.':>5} {'overlap':>7} {'confl.':>6} {'acc.':>5}"
    lines = [header, "-" * len(header)]
    ordered = sorted(rows, key=lambda r: (r.accuracy is None, r.accuracy or 0, -r.active))
    for r in ordered:
        acc = f"{r.accuracy:.2f}" if r.accuracy is not None else "  -"
        lines.append(
            f"{r.rule_id:<34} {r.effect:<22} {r.fires:>5} {r.active:>6} {r.discounted:>5} "
            f"{r.overlaps:>7} {r.conflicts:>6} {acc:>5}"
        )
    never = [r.rule_id for r in rows if r.fires == 0]
    if never:
        lines.append(f"\nnever fired on the corpus: {', '.join(never)}")
    return "\n".join(lines)
