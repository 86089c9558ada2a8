"""Service requirements outside the note's words: staff level, annual caps, accepted codes.

Loaded from ``rules/services.toml`` (data with citations, validated at load like the rule
catalog). The engine uses it to check that the billed service's staff level is allowed (000
Q61) and to accept billed codes it does not classify (CM-LOCUS); batch uses it for the annual
caps (000 Q46).
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notecheck.catalog import CatalogError, read_toml
from notecheck.labels import BILLABLE_LABELS, LABELS
from notecheck.seeds import parse_citation

if TYPE_CHECKING:
    from notecheck.profiles import Profile

_TOP_KEYS = {"profile", "version", "staff", "services", "caps"}
_SERVICE_KEYS = {"code", "min_staff", "cap", "classified", "citations"}
_CAP_KEYS = {"name", "hours", "citations"}


@dataclass(frozen=True)
class Service:
    """A billed service code and what it needs."""

    code: str
    min_staff: str | None
    cap: str | None
    classified: bool
    citations: tuple[str, ...]


@dataclass(frozen=True)
class Cap:
    """An annual cap per client per calendar year."""

    name: str
    hours: float
    citations: tuple[str, ...]
    codes: tuple[str, ...]  # the services whose hours count toward it


@dataclass(frozen=True)
class ServiceRules:
    """The profile's staff levels, services and caps."""

    version: str
    levels: tuple[str, ...]
    aliases: dict[str, str]
    staff_citations: tuple[str, ...]
    services: dict[str, Service]
    caps: tuple[Cap, ...]
    billable_labels: tuple[str, ...] = BILLABLE_LABELS  # the profile's billable labels
    # Codes EHRs send (procedure or local service codes), upper-cased -> a billed code above.
    code_map: Mapping[str, str] = field(default_factory=dict)

    @property
    def billed_codes(self) -> tuple[str, ...]:
        """Every code a note may be billed as: the billable labels, then unclassified services.

        NON-BILLABLE is a verdict, not a code anyone bills.
        """
        extra = [
            c
            for c, s in self.services.items()
            if not s.classified and c not in LABELS and c not in self.billable_labels
        ]
        return (*self.billable_labels, *extra)

    def unclassified(self, code: str | None) -> bool:
        """A billed code the engine accepts but does not judge from the note (CM-LOCUS)."""
        service = self.services.get(code or "")
        return service is not None and not service.classified

    def staff_level(self, value: str) -> str | None:
        """The level a user's spelling names ("mhp", "Mental Health Professional"), or None."""
        key = " ".join(value.strip().lower().replace(".", "").split())
        for level in self.levels:
            if key == level.lower():
                return level
        return self.aliases.get(key)

    def staff_allowed(self, code: str, level: str) -> bool | None:
        """Whether ``level`` may provide ``code``; None when the profile sets no minimum."""
        service = self.services.get(code)
        if service is None or service.min_staff is None:
            return None
        return self.levels.index(level) >= self.levels.index(service.min_staff)

    def cap_of(self, code: str | None) -> Cap | None:
        """The cap a billed code's hours count toward."""
        service = self.services.get(code or "")
        if service is None or service.cap is None:
            return None
        return next(c for c in self.caps if c.name == service.cap)


def _citations(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        raise CatalogError(f"{where}: citations must be a non-empty list of strings")
    for citation in value:
        try:
            parse_citation(citation)
        except ValueError as exc:
            raise CatalogError(f"{where}: {exc}") from exc
    return tuple(value)


def _keys(table: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise CatalogError(f"{where}: expected a table")
    unknown = set(table) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}")
    return table


def parse_service_rules(raw: dict[str, Any]) -> ServiceRules:
    """Validate ``services.toml`` content; raises ``CatalogError`` naming the bad entry."""
    _keys(raw, _TOP_KEYS, "services.toml")
    staff = _keys(raw.get("staff"), {"levels", "aliases", "citations"}, "[staff]")
    levels = staff.get("levels")
    if not isinstance(levels, list) or not levels or not all(isinstance(x, str) for x in levels):
        raise CatalogError("[staff].levels must be a non-empty list of strings")
    aliases = staff.get("aliases", {})
    if not isinstance(aliases, dict) or any(v not in levels for v in aliases.values()):
        raise CatalogError("[staff].aliases must map names to one of the levels")
    caps_raw = raw.get("caps", [])
    cap_names = [c.get("name") for c in caps_raw if isinstance(c, dict)]
    services: dict[str, Service] = {}
    for n, item in enumerate(raw.get("services", [])):
        where = f"[[services]] #{n + 1}"
        item = _keys(item, _SERVICE_KEYS, where)
        code = item.get("code")
        if not isinstance(code, str) or not code or code in services:
            raise CatalogError(f"{where}: code must be a new, non-empty string")
        classified = item.get("classified", True)
        if not isinstance(classified, bool) or (classified and code not in LABELS):
            raise CatalogError(f"{where}: {code} is classified but is not one of {LABELS}")
        min_staff, cap = item.get("min_staff"), item.get("cap")
        if min_staff is not None and min_staff not in levels:
            raise CatalogError(f"{where}: min_staff {min_staff!r} is not a staff level")
        if cap is not None and cap not in cap_names:
            raise CatalogError(f"{where}: cap {cap!r} is not one of the [[caps]]")
        services[code] = Service(
            code, min_staff, cap, classified, _citations(item.get("citations"), where)
        )
    caps = []
    for n, item in enumerate(caps_raw):
        where = f"[[caps]] #{n + 1}"
        item = _keys(item, _CAP_KEYS, where)
        hours = item.get("hours")
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0:
            raise CatalogError(f"{where}: hours must be a positive number")
        name = str(item.get("name") or "")
        codes = tuple(c for c, s in services.items() if s.cap == name)
        caps.append(Cap(name, float(hours), _citations(item.get("citations"), where), codes))
    return ServiceRules(
        version=str(raw.get("version", "")),
        levels=tuple(levels),
        aliases={" ".join(k.lower().split()): v for k, v in aliases.items()},
        staff_citations=_citations(staff.get("citations"), "[staff]"),
        services=services,
        caps=tuple(caps),
    )


def load_service_rules(path: str | Path | None = None) -> ServiceRules:
    """Load and validate ``rules/services.toml`` (or ``path``)."""
    raw, _ = read_toml(path, "services.toml")
    return parse_service_rules(raw)


@functools.lru_cache(maxsize=1)
def default_service_rules() -> ServiceRules:
    """The shipped profile's service rules (read once)."""
    return load_service_rules()


CODE_MAP_ENV = "NOTECHECK_BILLED_CODES"


def with_code_map(services: ServiceRules, profile: str, shipped: Mapping[str, str]) -> ServiceRules:
    """``services`` with the codes EHRs send mapped to its billed codes.

    The profile's own table (``[billed_codes]`` in its profile.toml), then the site's: the TOML
    file ``$NOTECHECK_BILLED_CODES`` names, one table per profile (``[il132]``,
    ``"H0036-HN" = "CS-IND"``). A code mapped to a code the profile does not bill (or to
    NON-BILLABLE, a verdict) is an error at load.
    """
    table = {str(k).strip().upper(): str(v) for k, v in shipped.items()}
    path = os.environ.get(CODE_MAP_ENV)
    if path:
        try:
            site = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"{CODE_MAP_ENV}: cannot read {path}: {exc}") from None
        section = site.get(profile, {})
        if not isinstance(section, dict):
            raise CatalogError(f"{CODE_MAP_ENV}: [{profile}] must be a table of code = label")
        table.update({str(k).strip().upper(): str(v) for k, v in section.items()})
    wrong = sorted(code for code, label in table.items() if label not in services.billed_codes)
    if wrong:
        raise CatalogError(
            f"billed code map for {profile}: {', '.join(wrong)} map to no code it bills "
            f"({', '.join(services.billed_codes)})"
        )
    return replace(services, code_map=table)


def labels_only(version: str, billable_labels: tuple[str, ...]) -> ServiceRules:
    """Service rules for a profile that states no staff levels, caps or extra codes."""
    return ServiceRules(
        version=version,
        levels=(),
        aliases={},
        staff_citations=(),
        services={},
        caps=(),
        billable_labels=billable_labels,
    )


def services_for(profile: Profile) -> ServiceRules:
    """A profile's service rules: Illinois' file, or its labels alone, and its code map."""
    base = (
        default_service_rules()
        if profile.services_file
        else labels_only(profile.name, profile.billable_labels)
    )
    return with_code_map(base, profile.name, profile.billed_codes)
