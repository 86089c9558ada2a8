"""Rule profiles: one jurisdiction's rulebook each, as data in a folder of this package.

A profile folder holds ``profile.toml`` (label set, units, documentation checks, model, claim
limits) and ``rules.toml`` (its rule catalog). Adding a profile is adding a folder: the registry
lists whatever folders hold a ``profile.toml``. Context modifiers and section rules are shared
(``notecheck/rules/``); the Illinois profile ``il132`` is the default.

``python -m notecheck.profiles validate [NAME ...]`` loads each profile and runs its rules'
own examples, printing every example that does not behave.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from notecheck.seeds import parse_citation

DEFAULT_PROFILE = "il132"
PROFILE_ENV = "NOTECHECK_PROFILE"
PARTIAL_UNIT_POLICIES = ("half-up", "drop", "up")
_PROFILE_KEYS = {
    "name",
    "title",
    "jurisdiction",
    "sources",
    "default",
    "non_billable",
    "labels",
    "units",
    "documentation",
    "model",
    "decision",
    "claims",
    "not_covered",
    "billed_codes",
}


class ProfileError(ValueError):
    """A profile is unknown or its ``profile.toml`` does not match the schema."""


@dataclass(frozen=True)
class LabelInfo:
    """A label's code, display name, one-line definition and seed anchors."""

    code: str
    name: str
    definition: str
    citation: str
    billable: bool = True


@dataclass(frozen=True)
class UnitPolicy:
    """How billable minutes become units (the profile's unit, least time, partial units)."""

    unit_minutes: float
    minimum_minutes: float
    partial: str  # "half-up" | "drop" | "up" (any remainder is a unit)
    citations: tuple[str, ...] = ()
    # True where the seed says time under the minimum is not billable at all (001 §2): a note
    # whose billable minutes fall short is then NON-BILLABLE, not a billable note of no units.
    below_minimum_not_billable: bool = False
    # 000 Q54: each contact is a unit on its own (short contacts are never bundled).
    per_contact: bool = False

    def units(self, minutes: float) -> int:
        """Whole units ``minutes`` supports under this policy."""
        if minutes < self.minimum_minutes:
            return 0
        whole, rest = divmod(minutes, self.unit_minutes)
        if rest and (
            self.partial == "up" or (self.partial == "half-up" and rest >= self.unit_minutes / 2)
        ):
            whole += 1
        return int(whole)


@dataclass(frozen=True)
class ClaimLimits:
    """Limits batch applies across a client's notes (per client, per day or month)."""

    daily_units: int | None = None
    monthly_units: Mapping[str, int] = field(default_factory=dict)  # modifier -> units
    combine_same_day: bool = False  # 001 §2-3: short same-day contacts add up to a unit
    citations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """One loaded profile."""

    name: str
    title: str
    jurisdiction: str
    sources: tuple[str, ...]
    labels: tuple[LabelInfo, ...]
    non_billable: str
    units: UnitPolicy
    checks: tuple[str, ...]
    check_sources: Mapping[str, str]  # documentation check -> the passage it rests on
    own_model: str | None
    borrowed_model: str | None
    model_map: Mapping[str, str]
    override_below: float
    override_floor: float
    limits: ClaimLimits
    services_file: str | None
    not_covered: tuple[str, ...]
    billed_codes: Mapping[str, str]  # codes EHRs send -> this profile's billed codes
    default: bool
    folder: Traversable

    @property
    def label_codes(self) -> tuple[str, ...]:
        """The label set in probability order."""
        return tuple(info.code for info in self.labels)

    @property
    def billable_labels(self) -> tuple[str, ...]:
        """The labels that bill a service."""
        return tuple(info.code for info in self.labels if info.billable)

    @property
    def model_name(self) -> str:
        """The model folder under ``models/`` this profile's engine loads."""
        name = self.own_model or self.borrowed_model
        assert name is not None  # the loader requires one
        return name

    def label_info(self, code: str) -> LabelInfo:
        """The label's display data."""
        for info in self.labels:
            if info.code == code:
                return info
        raise KeyError(code)

    def rules_bytes(self) -> bytes:
        """The profile's rule catalog as stored."""
        return self.folder.joinpath("rules.toml").read_bytes()

    def summary(self) -> dict[str, Any]:
        """What ``notecheck profiles`` and ``GET /v1/profiles`` show."""
        return {
            "name": self.name,
            "title": self.title,
            "jurisdiction": self.jurisdiction,
            "default": self.default,
            "sources": list(self.sources),
            "labels": [
                {"code": i.code, "name": i.name, "billable": i.billable, "citation": i.citation}
                for i in self.labels
            ],
            "unit_minutes": self.units.unit_minutes,
            "minimum_minutes": self.units.minimum_minutes,
            "model": (
                f"{self.own_model} (trained for this profile)"
                if self.own_model
                else f"{self.borrowed_model} (borrowed: labels mapped, rules of this profile decide)"
            ),
            "documentation_checks": list(self.checks),
            "not_covered": list(self.not_covered),
        }


def _folder() -> Traversable:
    return resources.files("notecheck.profiles")


@functools.cache
def profile_names() -> tuple[str, ...]:
    """Every shipped profile, the default first."""
    names = sorted(
        item.name
        for item in _folder().iterdir()
        if item.is_dir() and item.joinpath("profile.toml").is_file()
    )
    return tuple(sorted(names, key=lambda n: n != DEFAULT_PROFILE))


def default_profile_name() -> str:
    """``$NOTECHECK_PROFILE`` when set, else Illinois."""
    return os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE


def _need(raw: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = raw.get(key)
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise ProfileError(f"{where}: '{key}' must be a {kind.__name__}")
    return value


def _citations(values: Any, where: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ProfileError(f"{where}: citations must be a list of strings")
    for value in values:
        try:
            parse_citation(value)
        except ValueError as exc:
            raise ProfileError(f"{where}: {exc}") from exc
    return tuple(values)


def parse_profile(raw: Mapping[str, Any], folder: Traversable) -> Profile:
    """Validate a parsed ``profile.toml``."""
    where = f"profile {raw.get('name')!r}"
    unknown = set(raw) - _PROFILE_KEYS
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    name = _need(raw, "name", str, where)
    labels = []
    for item in _need(raw, "labels", list, where):
        labels.append(
            LabelInfo(
                code=_need(item, "code", str, f"{where} label"),
                name=_need(item, "name", str, f"{where} label"),
                definition=_need(item, "definition", str, f"{where} label"),
                citation=_need(item, "citation", str, f"{where} label"),
                billable=bool(item.get("billable", True)),
            )
        )
    codes = [info.code for info in labels]
    non_billable = _need(raw, "non_billable", str, where)
    if len(set(codes)) != len(codes) or non_billable not in codes:
        raise ProfileError(f"{where}: label codes must be unique and include {non_billable!r}")
    if [i.code for i in labels if not i.billable] != [non_billable]:
        raise ProfileError(f"{where}: exactly one label, {non_billable!r}, is not billable")
    units_raw = _need(raw, "units", dict, where)
    partial = units_raw.get("partial")
    if partial not in PARTIAL_UNIT_POLICIES:
        raise ProfileError(f"{where}: units.partial must be one of {PARTIAL_UNIT_POLICIES}")
    units = UnitPolicy(
        unit_minutes=float(_need(units_raw, "unit_minutes", int, f"{where} units")),
        minimum_minutes=float(units_raw.get("minimum_minutes", 0)),
        partial=partial,
        citations=_citations(units_raw.get("citations", []), f"{where} units"),
        below_minimum_not_billable=units_raw.get("below_minimum") == "non-billable",
        per_contact=bool(units_raw.get("per_contact", False)),
    )
    model = _need(raw, "model", dict, where)
    own, borrowed = model.get("own"), model.get("borrow")
    if (own is None) == (borrowed is None):
        raise ProfileError(f"{where}: model needs exactly one of 'own' or 'borrow'")
    model_map = dict(model.get("map", {}))
    if borrowed is not None:
        missing = [c for c in model_map.values() if c not in codes]
        if not model_map or missing:
            raise ProfileError(f"{where}: model.map must map the borrowed labels onto {codes}")
    claims = raw.get("claims", {})
    limits = ClaimLimits(
        daily_units=claims.get("daily_units"),
        monthly_units=dict(claims.get("monthly_units", {})),
        combine_same_day=bool(claims.get("combine_same_day", False)),
        citations=_citations(claims.get("citations", []), f"{where} claims"),
    )
    return Profile(
        name=name,
        title=_need(raw, "title", str, where),
        jurisdiction=_need(raw, "jurisdiction", str, where),
        sources=tuple(_need(raw, "sources", list, where)),
        labels=tuple(labels),
        non_billable=non_billable,
        units=units,
        checks=tuple(_need(raw, "documentation", dict, where).get("checks", [])),
        check_sources=dict(raw["documentation"].get("sources", {})),
        own_model=own,
        borrowed_model=borrowed,
        model_map=model_map,
        override_below=float(raw.get("decision", {}).get("override_below", 0.5)),
        override_floor=float(raw.get("decision", {}).get("override_floor", 0.15)),
        limits=limits,
        services_file=claims.get("services"),
        not_covered=tuple(raw.get("not_covered", [])),
        billed_codes=dict(raw.get("billed_codes", {})),
        default=bool(raw.get("default", False)),
        folder=folder,
    )


def load_profile(name: str | None = None) -> Profile:
    """The named profile (default: ``$NOTECHECK_PROFILE``, read at each call, else Illinois).

    Raises
    ------
    ProfileError
        For a name no shipped profile has, or a profile file that does not validate.
    """
    return _load_profile(name or default_profile_name())


@functools.cache
def _load_profile(name: str) -> Profile:
    if name not in profile_names():
        raise ProfileError(
            f"unknown profile {name!r}; expected one of {', '.join(profile_names())}"
        )
    folder = _folder().joinpath(name)
    try:
        raw = tomllib.loads(folder.joinpath("profile.toml").read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {name!r}: {exc}") from exc
    profile = parse_profile(raw, folder)
    if profile.name != name:
        raise ProfileError(f"profile folder {name!r} declares name {profile.name!r}")
    return profile


def validate(names: tuple[str, ...] = ()) -> list[str]:
    """Load each profile and run its rules' own examples; every problem as one line."""
    from notecheck.catalog import CatalogError
    from notecheck.nlp import SPAN_KEY, active, build_nlp

    problems: list[str] = []
    for name in names or profile_names():
        try:
            profile = load_profile(name)
            with resources.as_file(profile.folder.joinpath("rules.toml")) as rules_path:
                nlp = build_nlp(str(rules_path))
        except (ProfileError, CatalogError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        from notecheck.nlp import catalog_of

        catalog = catalog_of(nlp)
        if catalog.profile != name:
            problems.append(f"{name}: rules.toml declares profile {catalog.profile!r}")
        for rule in catalog.rules:
            if not any(c.split("_", 1)[0] in profile.sources for c in rule.citations):
                problems.append(f"{name}: {rule.id} cites none of the profile's sources")
            for expected, examples in (
                (True, rule.examples_match),
                (False, rule.examples_no_match),
            ):
                for text in examples:
                    doc = nlp(text)
                    fired = any(s.id_ == rule.id and active(s) for s in doc.spans[SPAN_KEY])
                    if fired != expected:
                        verb = "does not fire on" if expected else "fires on"
                        problems.append(f"{name}: {rule.id} {verb} its example {text!r}")
    return problems
