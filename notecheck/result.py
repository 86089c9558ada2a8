"""The result contract shared by the library, CLI, HTTP API and batch scoring."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from notecheck.profiles import DEFAULT_PROFILE, load_profile

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

CONTRACT_VERSION = "2"
CheckStatus = Literal["pass", "fail", "unknown"]


# Field names per record class, read once: ``dataclasses.fields`` is the one declaration.
_FIELD_NAMES: dict[type[DataclassInstance], tuple[str, ...]] = {}


def _fields_dict(record: DataclassInstance) -> dict[str, Any]:
    """A flat dataclass's fields by name, in declaration order.

    ``dataclasses.asdict`` deep-copies every value and cost more than the rest of ``to_dict``;
    these records hold only scalars and tuples of strings, so a shallow read is the same JSON.
    """
    cls = type(record)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return {name: getattr(record, name) for name in names}


@dataclass(frozen=True)
class Evidence:
    """A span of the input that decided something, with character offsets into the input."""

    start: int
    end: int
    text: str
    rule_id: str
    effect: str  # non-billable | billable-cue | other-service | excludes | model-cue
    negated: bool
    modifiers: tuple[str, ...] = ()
    active: bool = True  # False when a context modifier discounted the match
    label: str | None = None
    sentence: str = ""  # one human sentence: what matched, what it means, the source

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = _fields_dict(self)
        data["modifiers"] = list(self.modifiers)
        return data


@dataclass(frozen=True)
class RuleFired:
    """A rule that matched at least once, with its citation and whether it counted."""

    rule_id: str
    title: str
    effect: str
    citation: str
    explanation: str
    source: str  # the first citation, readable without the file: jurisdiction, document, passage
    label: str | None
    matches: int
    active_matches: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return _fields_dict(self)


@dataclass(frozen=True)
class DocumentationCheck:
    """An auditor's documentation check: pass, fail or unknown, and why."""

    check: str
    status: CheckStatus
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return _fields_dict(self)


@dataclass(frozen=True)
class Section:
    """A part of the note and its kind; only counting kinds are evidence of what was done."""

    start: int
    end: int
    kind: str  # activity | response | assessment | goal | plan | header
    heading: str | None
    counts: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return _fields_dict(self)


@dataclass(frozen=True)
class Activity:
    """One activity of the note, with the rules behind its kind and its stated minutes."""

    start: int
    end: int
    text: str
    kind: str  # a billable label, "non-billable" or "none"
    rule_ids: tuple[str, ...]
    minutes: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = _fields_dict(self)
        data["rule_ids"] = list(self.rule_ids)
        return data


@dataclass(frozen=True)
class TimeBreakdown:
    """The note's minutes split into billable and non-billable, and the units at stake."""

    total_minutes: float | None
    billable_minutes: float | None
    non_billable_minutes: float | None
    unallocated_minutes: float | None
    units_supported: int | None
    units_billed: int | None
    units_at_risk: int | None
    total_source: (
        str  # "note: start/stop", "note: stated total", "note: sum of parts", "billed", "none"
    )
    billed_basis: str  # "billed minutes", "note total", "none"
    split: str  # "stated", "not needed", "unknown", "non-billable note", "no time"
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return _fields_dict(self)


@dataclass(frozen=True)
class Result:
    """Everything notecheck says about one note."""

    label: str
    probabilities: dict[str, float]
    confidence: float
    needs_review: bool
    review_reasons: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    rules_fired: tuple[RuleFired, ...]
    documentation: tuple[DocumentationCheck, ...]
    hints: tuple[str, ...]
    minutes: float | None
    units: int | None
    billed_code: str | None
    billed_code_matches: bool | None
    model_version: str
    ruleset_version: str
    sections: tuple[Section, ...] = ()
    activities: tuple[Activity, ...] = ()
    time: TimeBreakdown | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    profile: str = DEFAULT_PROFILE  # the rule profile whose labels and rules gave this result

    @property
    def display_name(self) -> str:
        """The label's human name in its profile."""
        return load_profile(self.profile).label_info(self.label).name

    @property
    def non_billable_flags(self) -> tuple[Evidence, ...]:
        """Active evidence of non-billable activity (still flagged on billable notes, 000 Q38)."""
        return tuple(e for e in self.evidence if e.active and e.effect == "non-billable")

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (stable keys; see README 'Result contract')."""
        return {
            "contract_version": CONTRACT_VERSION,
            "label": self.label,
            "display_name": self.display_name,
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "confidence": round(self.confidence, 4),
            "needs_review": self.needs_review,
            "review_reasons": list(self.review_reasons),
            "evidence": [e.to_dict() for e in self.evidence],
            "rules_fired": [r.to_dict() for r in self.rules_fired],
            "documentation": [d.to_dict() for d in self.documentation],
            "hints": list(self.hints),
            "sections": [s.to_dict() for s in self.sections],
            "activities": [a.to_dict() for a in self.activities],
            "time": self.time.to_dict() if self.time is not None else None,
            "minutes": self.minutes,
            "units": self.units,
            "billed_code": self.billed_code,
            "billed_code_matches": self.billed_code_matches,
            "profile": self.profile,
            "model_version": self.model_version,
            "ruleset_version": self.ruleset_version,
            **self.extra,
        }
