"""Rule and context catalogs: data files parsed into a strict schema at load time.

A bad rule file fails here, at start-up, never at request time: unknown keys, duplicate ids,
unknown effects or labels, citations that resolve to no seed passage and patterns that do not
compile are all errors.

Pattern mini-language (one string per pattern, tokens separated by spaces):

``a|b|c``
    one token whose lower-cased lemma is ``a``, ``b`` or ``c``
``=a|=b``
    one token whose lower-cased text is exactly ``a`` or ``b`` (no lemma folding)
``a|b?``
    the same token, optional
``*N-M``
    a gap of N to M tokens, M at most 12 (never across a sentence boundary)
``!a|b``
    the next token is not ``a`` or ``b`` (zero width: "advocate !christ|good" skips the
    hospital names)
``<!a|b``
    only as the first part: the token before the match is not ``a`` or ``b`` ("<!for|the
    scheduled visit" skips "for the scheduled visit")

A pattern must start with a required word (after an optional ``<!``): matching is indexed by
first words.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from notecheck.lemmas import lemma
from notecheck.seeds import parse_citation

# "context": a fact about the contact that other rules read through ``unless`` (the note says
# why the client could not be there); it votes for no label.
EFFECTS = ("non-billable", "billable-cue", "other-service", "excludes", "context")
MODIFIER_NAMES = (
    "negated",
    "hypothetical",
    "failed",
    "client_acts",
    "other_actor",
    "document_of",
    "background",
    "destination",
)
DEFAULT_DISCOUNTS = ("negated", "hypothetical")

_RULE_KEYS = {
    "id",
    "title",
    "effect",
    "label",
    "service",
    "patterns",
    "citations",
    "explanation",
    "discounted_by",
    "examples",
    "enabled",
    "decisive",
    "applies_to",
    "unless",
    "unless_scope",
    "generic",
}
_MODIFIER_KEYS = {
    "name",
    "title",
    "direction",
    "window",
    "triggers",
    "extra_terminators",
    "ignored_terminators",
    "list_joiners",
    "not_after",
    "inside",
    "explanation",
}
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_]+$")
_GAP_RE = re.compile(r"^\*(\d+)(?:-(\d+))?$")


class CatalogError(ValueError):
    """A rule or context file does not match its schema."""


def names_rule(reference: str, rule_id: str) -> bool:
    """Whether a rule reference (an id, or a family such as "ccc.") names ``rule_id``."""
    return rule_id == reference or (reference.endswith(".") and rule_id.startswith(reference))


@dataclass(frozen=True)
class Rule:
    """One rule: what it matches, what a match means, and where that meaning comes from."""

    id: str
    title: str
    effect: str
    patterns: tuple[str, ...]
    citations: tuple[str, ...]
    explanation: str
    label: str | None = None
    service: str | None = None
    discounted_by: tuple[str, ...] = DEFAULT_DISCOUNTS
    examples_match: tuple[str, ...] = ()
    examples_no_match: tuple[str, ...] = ()
    enabled: bool = True
    # A rule the seed states without exception. A decisive non-billable rule ("case management
    # may not be billed", 000 Q15) makes the note NON-BILLABLE; a decisive excludes rule ("TLA
    # only until the placement is secure", Q58) rules its label out. Whatever the model says.
    decisive: bool = False
    # A decisive rule may decide only some labels ("applies_to": the client must be present to
    # be assisted, 000 Q37, but a CCC consultation is between providers).
    applies_to: tuple[str, ...] = ()
    # Rule ids (or families, "ccc.") whose active hit anywhere in the note switches this rule off:
    # "the client was not present" stands unless the note states why it had to be so.
    unless: tuple[str, ...] = ()
    # Where the "unless" rule must stand: anywhere in the note, or in the same sentence ("a
    # professional is named" says who was consulted only in the consultation's own sentence).
    unless_scope: str = "note"
    # A cue that names only the channel ("called the cardiology office"): within one clause a
    # specific rule says what the contact was ("... to move the appt" is scheduling).
    generic: bool = False

    def unless_met(self, present: set[str]) -> str | None:
        """The active rule (or family) among ``present`` that switches this rule off."""
        for other_id in self.unless:
            if any(names_rule(other_id, p) for p in present):
                return other_id
        return None

    def reads(self, rule_id: str) -> bool:
        """Whether ``rule_id`` is one of this rule's "unless" rules (or in one of its families)."""
        return any(names_rule(other_id, rule_id) for other_id in self.unless)

    @property
    def citation(self) -> str:
        """All citations joined for display."""
        return "; ".join(self.citations)

    def compiled_patterns(self) -> list[tuple[Element, ...]]:
        """The rule's patterns compiled for ``notecheck.nlp.RuleMatcher``."""
        return [compile_pattern(p) for p in self.patterns]


@dataclass(frozen=True)
class Modifier:
    """A context trigger list with a direction and a window (ConText style)."""

    name: str
    title: str
    direction: str
    window: int
    triggers: tuple[str, ...]
    explanation: str
    extra_terminators: tuple[str, ...] = ()
    ignored_terminators: tuple[str, ...] = ()
    # "did not link, refer, or advocate": in a list closed by one of these words, commas do
    # not end the scope and the list's commas and joiners do not use up the window.
    list_joiners: tuple[str, ...] = ()
    # Words right before a trigger that cancel it: "writer and clt sat down w/ the landlord" is
    # staff acting with the client, not the client alone.
    not_after: tuple[str, ...] = ()
    # A trigger inside the matched words modifies the match too ("CILA intake, left VM asking
    # about openings"): for a trigger that describes the whole contact.
    inside: bool = False


@dataclass(frozen=True)
class ContextCatalog:
    """All context modifiers plus the words that end a modifier's scope."""

    version: str
    terminators: tuple[str, ...]
    modifiers: tuple[Modifier, ...]


@dataclass(frozen=True)
class RuleCatalog:
    """A validated rule profile plus its context modifiers."""

    profile: str
    version: str
    title: str
    rules: tuple[Rule, ...]
    context: ContextCatalog
    sha256: str = ""
    by_id: dict[str, Rule] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id.update({r.id: r for r in self.rules})

    def standing(self, hits: Sequence[tuple[str, int]]) -> list[bool]:
        """Which active hits no other standing hit switches off ("unless").

        ``hits`` are ``(rule id, sentence number)``. A rule with ``unless_scope = "sentence"``
        is switched off only by a hit in its own sentence. Worked out to a fixed point, so an
        "unless" may name a rule that has one of its own: an unnamed consultation switches off
        the consultation cue only while no professional is named (000 Q88).
        """
        keep = [True] * len(hits)
        for _ in range(len(hits) + 1):
            note: set[str] = set()
            by_sentence: dict[int, set[str]] = {}
            for (rule_id, sentence), kept in zip(hits, keep, strict=True):
                if kept:
                    note.add(rule_id)
                    by_sentence.setdefault(sentence, set()).add(rule_id)
            new = [
                not self.by_id[rule_id].unless_met(
                    by_sentence.get(sentence, set())
                    if self.by_id[rule_id].unless_scope == "sentence"
                    else note
                )
                for rule_id, sentence in hits
            ]
            if new == keep:
                break
            keep = new
        return keep

    @property
    def enabled_rules(self) -> tuple[Rule, ...]:
        """The rules that take part in matching."""
        return tuple(r for r in self.rules if r.enabled)

    def to_dict(self, *, include_disabled: bool = False) -> dict[str, Any]:
        """The catalog as plain data (for ``notecheck rules --json`` and ``GET /v1/rules``)."""
        rules = self.rules if include_disabled else self.enabled_rules
        return {
            "profile": self.profile,
            "version": self.version,
            "rules": [
                {
                    "id": r.id,
                    "title": r.title,
                    "effect": r.effect,
                    "label": r.label,
                    "service": r.service,
                    "citations": list(r.citations),
                    "explanation": r.explanation,
                    "discounted_by": list(r.discounted_by),
                    "enabled": r.enabled,
                }
                for r in rules
            ],
        }


@dataclass(frozen=True)
class Element:
    """One step of a compiled pattern: ``count`` tokens from ``min_count`` to ``max_count``.

    ``values`` is None for a gap (any token); otherwise the token's ``attr`` ("lemma" or
    "lower") must be one of ``values``.
    """

    values: frozenset[str] | None
    attr: str
    min_count: int
    max_count: int
    negate: bool = False  # zero width: the next token must not be one of values
    behind: bool = False  # with negate, first element only: the previous token is checked


def compile_pattern(pattern: str) -> tuple[Element, ...]:
    """Compile one mini-language pattern (see the module docstring) into elements."""
    elements: list[Element] = []
    for position, part in enumerate(pattern.split()):
        behind = part.startswith("<!")
        negate = behind or (part.startswith("!") and len(part) > 1)
        if behind and position != 0:
            raise CatalogError(f"pattern {pattern!r}: '<!' only goes first")
        if negate:
            part = part[2:] if behind else part[1:]
            if not part or part.endswith("?") or _GAP_RE.match(part):
                raise CatalogError(f"pattern {pattern!r}: bad negated token")
        gap = _GAP_RE.match(part)
        if gap:
            low = int(gap.group(1))
            high = int(gap.group(2) or low)
            if high < low or high > 12:
                raise CatalogError(f"pattern {pattern!r}: bad gap {part!r}")
            elements.append(Element(None, "lemma", low, high))
            continue
        optional = part.endswith("?") and len(part) > 1
        words = part[:-1] if optional else part
        alternatives = [w for w in words.split("|") if w]
        if not alternatives:
            raise CatalogError(f"pattern {pattern!r}: empty token")
        if all(w.startswith("=") for w in alternatives):
            # "=word": the exact lower-cased form, for words whose lemma is too broad
            # ("=staffing" must not match "staff").
            values, attr = frozenset(w[1:].lower() for w in alternatives), "lower"
        elif any(w.startswith("=") for w in alternatives):
            raise CatalogError(f"pattern {pattern!r}: mix of =exact and lemma alternatives")
        else:
            lowered = {w.lower() for w in alternatives}
            values, attr = frozenset(lowered | {lemma(w) for w in lowered}), "lemma"
        if negate:
            elements.append(Element(values, attr, 0, 0, negate=True, behind=behind))
            continue
        elements.append(Element(values, attr, 0 if optional else 1, 1))
    head = elements[1:] if elements and elements[0].behind else elements
    if not head or head[0].values is None or head[0].min_count == 0 or head[0].negate:
        raise CatalogError(f"pattern {pattern!r} must start with a required word")
    return tuple(elements)


def _strict(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}")


def _str_list(value: Any, where: str, *, non_empty: bool = True) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogError(f"{where}: expected a list of non-empty strings")
    if non_empty and not value:
        raise CatalogError(f"{where}: must not be empty")
    return tuple(value)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CatalogError(f"{where}: must be true or false")
    return value


def _parse_rule(raw: dict[str, Any], labels: Sequence[str], non_billable: str) -> Rule:
    rule_id = raw.get("id")
    where = f"rule {rule_id!r}"
    _strict(raw, _RULE_KEYS, where)
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        raise CatalogError(f"{where}: id must look like 'family.name'")
    for key in ("title", "explanation", "effect"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise CatalogError(f"{where}: '{key}' is required")
    effect = raw["effect"]
    if effect not in EFFECTS:
        raise CatalogError(f"{where}: effect {effect!r} is not one of {EFFECTS}")
    label = raw.get("label")
    if effect in ("billable-cue", "excludes"):
        if label not in labels or label == non_billable:
            raise CatalogError(f"{where}: effect {effect!r} needs a billable 'label'")
    elif label is not None:
        raise CatalogError(f"{where}: 'label' only goes with billable-cue or excludes")
    service = raw.get("service")
    if (effect == "other-service") != isinstance(service, str):
        raise CatalogError(f"{where}: 'service' is required for, and only for, other-service")
    citations = _str_list(raw.get("citations"), f"{where}.citations")
    for citation in citations:
        try:
            parse_citation(citation)
        except ValueError as exc:
            raise CatalogError(f"{where}: {exc}") from exc
    discounted_by = _str_list(
        raw.get("discounted_by", list(DEFAULT_DISCOUNTS)), f"{where}.discounted_by", non_empty=False
    )
    for name in discounted_by:
        if name not in MODIFIER_NAMES:
            raise CatalogError(f"{where}: unknown context modifier {name!r}")
    examples = raw.get("examples", {})
    if not isinstance(examples, dict):
        raise CatalogError(f"{where}: examples must be a table")
    _strict(examples, {"match", "no_match"}, f"{where}.examples")
    patterns = _str_list(raw.get("patterns"), f"{where}.patterns")
    for pattern in patterns:
        compile_pattern(pattern)
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise CatalogError(f"{where}: enabled must be true or false")
    decisive = raw.get("decisive", False)
    if not isinstance(decisive, bool):
        raise CatalogError(f"{where}: decisive must be true or false")
    if decisive and effect not in ("non-billable", "excludes"):
        raise CatalogError(f"{where}: only a non-billable or excludes rule can be decisive")
    applies_to = _str_list(raw.get("applies_to", []), f"{where}.applies_to", non_empty=False)
    if applies_to and not decisive:
        raise CatalogError(f"{where}: applies_to goes only with a decisive rule")
    for label in applies_to:
        if label not in labels or label == non_billable:
            raise CatalogError(f"{where}: applies_to label {label!r} is not a billable label")
    unless = _str_list(raw.get("unless", []), f"{where}.unless", non_empty=False)
    unless_scope = raw.get("unless_scope", "note")
    if unless_scope not in ("note", "sentence"):
        raise CatalogError(f"{where}: unless_scope must be 'note' or 'sentence'")
    generic = raw.get("generic", False)
    if not isinstance(generic, bool):
        raise CatalogError(f"{where}: generic must be true or false")
    return Rule(
        id=rule_id,
        title=raw["title"].strip(),
        effect=effect,
        patterns=patterns,
        citations=citations,
        explanation=raw["explanation"].strip(),
        label=label,
        service=service,
        discounted_by=discounted_by,
        examples_match=_str_list(examples.get("match"), f"{where}.examples.match"),
        examples_no_match=_str_list(examples.get("no_match"), f"{where}.examples.no_match"),
        enabled=enabled,
        decisive=decisive,
        applies_to=tuple(applies_to),
        unless=tuple(unless),
        unless_scope=unless_scope,
        generic=generic,
    )


def _parse_context(raw: dict[str, Any]) -> ContextCatalog:
    _strict(raw, {"version", "terminators", "modifiers"}, "context")
    modifiers = []
    for item in raw.get("modifiers", []):
        where = f"modifier {item.get('name')!r}"
        _strict(item, _MODIFIER_KEYS, where)
        if item.get("name") not in MODIFIER_NAMES:
            raise CatalogError(f"{where}: name must be one of {MODIFIER_NAMES}")
        if item.get("direction") not in ("forward", "backward"):
            raise CatalogError(f"{where}: direction must be forward or backward")
        window = item.get("window")
        if not isinstance(window, int) or not 1 <= window <= 30:
            raise CatalogError(f"{where}: window must be an integer from 1 to 30")
        modifiers.append(
            Modifier(
                name=item["name"],
                title=str(item.get("title", item["name"])),
                direction=item["direction"],
                window=window,
                triggers=_str_list(item.get("triggers"), f"{where}.triggers"),
                explanation=str(item.get("explanation", "")),
                extra_terminators=_str_list(
                    item.get("extra_terminators", []), f"{where}.extra_terminators", non_empty=False
                ),
                ignored_terminators=_str_list(
                    item.get("ignored_terminators", []),
                    f"{where}.ignored_terminators",
                    non_empty=False,
                ),
                list_joiners=_str_list(
                    item.get("list_joiners", []), f"{where}.list_joiners", non_empty=False
                ),
                not_after=_str_list(
                    item.get("not_after", []), f"{where}.not_after", non_empty=False
                ),
                inside=_flag(item.get("inside", False), f"{where}.inside"),
            )
        )
    if not modifiers:
        raise CatalogError("context: no modifiers")
    return ContextCatalog(
        version=str(raw.get("version", "")),
        terminators=_str_list(raw.get("terminators"), "context.terminators"),
        modifiers=tuple(modifiers),
    )


def read_toml(
    path: str | Path | Traversable | None, default_name: str
) -> tuple[dict[str, Any], bytes]:
    """A rules data file (``path``, or the shipped ``default_name``) parsed, with its bytes."""
    if path is None:
        data = resources.files("notecheck.rules").joinpath(default_name).read_bytes()
    elif isinstance(path, Traversable) and not isinstance(path, Path):
        data = path.read_bytes()
    else:
        data = Path(path).read_bytes()
    try:
        return tomllib.loads(data.decode("utf-8")), data
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path or default_name}: {exc}") from exc


def load_catalog(
    rules_path: str | Path | Traversable | None = None, context_path: str | Path | None = None
) -> RuleCatalog:
    """Load and validate a rule catalog (default: Illinois') and its context rules.

    A catalog names its profile (``profile = "il132"``); rule labels must be that profile's.

    Raises
    ------
    CatalogError
        On any schema violation, duplicate id or unresolvable citation.
    """
    from notecheck.profiles import DEFAULT_PROFILE, ProfileError, load_profile

    if not rules_path:
        rules_path = load_profile(DEFAULT_PROFILE).folder.joinpath("rules.toml")
    raw_rules, rule_bytes = read_toml(rules_path, "rules.toml")
    raw_ctx, ctx_bytes = read_toml(context_path or None, "context.toml")
    _strict(raw_rules, {"profile", "version", "title", "rules"}, "catalog")
    try:
        profile = load_profile(str(raw_rules.get("profile", "")))
    except ProfileError as exc:
        raise CatalogError(f"catalog: {exc}") from exc
    labels, non_billable = profile.label_codes, profile.non_billable
    rules = [_parse_rule(r, labels, non_billable) for r in raw_rules.get("rules", [])]
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise CatalogError(f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
    for rule in rules:
        for other in rule.unless:
            if other.endswith("."):
                if not any(r.id.startswith(other) for r in rules):
                    raise CatalogError(f"rule {rule.id!r}: unless names no rule family {other!r}")
            elif other not in seen:
                raise CatalogError(f"rule {rule.id!r}: unless names an unknown rule {other!r}")
    if not rules:
        raise CatalogError("catalog has no rules")
    digest = hashlib.sha256(rule_bytes + b"\0" + ctx_bytes).hexdigest()
    return RuleCatalog(
        profile=str(raw_rules.get("profile", "")),
        version=str(raw_rules.get("version", "")),
        title=str(raw_rules.get("title", "")),
        rules=tuple(rules),
        context=_parse_context(raw_ctx),
        sha256=digest,
    )
