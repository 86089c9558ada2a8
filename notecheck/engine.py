"""The engine: text -> spaCy Doc -> rules + model -> decision -> documentation -> Result."""

from __future__ import annotations

import contextlib
import functools
import gc
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from spacy.tokens import Doc

from notecheck.activities import NON_BILLABLE_KIND, overshadowed_cues, segments, time_split
from notecheck.catalog import RuleCatalog, load_catalog
from notecheck.decision import Decision, RuleVotes, decide
from notecheck.documentation import FAIL, PASS, UNKNOWN, Check, run_checks
from notecheck.labels import LABELS, normalize_label
from notecheck.model import ModelError, TextModel, default_model_dir, load_model, make_rows
from notecheck.nlp import (
    RuleMatch,
    RuleMatcher,
    build_nlp,
    catalog_of,
    counting_matches,
    parse_texts,
    rule_matches,
    section_rules_of,
    switched_off,
)
from notecheck.normalize import fold, unfold_result
from notecheck.profiles import Profile, load_profile
from notecheck.result import (
    Activity,
    DocumentationCheck,
    Evidence,
    Result,
    RuleFired,
    Section,
    TimeBreakdown,
)
from notecheck.sections import SectionRules, doc_text, tagged_sections
from notecheck.seeds import describe, short_citation
from notecheck.services import ServiceRules, default_service_rules, services_for
from notecheck.timeparse import find_times, note_time

MAX_TEXT_CHARS = 20_000
MAX_MINUTES = 24 * 60
DEFAULT_BATCH_SIZE = 256
_MODEL_TERMS_SHOWN = 5
# Words that say who wrote the note, not what was done: never shown as model evidence.
_UNINFORMATIVE = frozenset(ENGLISH_STOP_WORDS) | {
    "cm",
    "clt",
    "client",
    "pt",
    "writer",
    "staff",
    "member",
    "mbr",
    "consumer",
    "w/",
    "re",
    "min",
    "mins",
    "minutes",
    "hr",
    "hrs",
}


# C0/C1 controls except tab/newline/CR, lone surrogates, and U+FFFD (bytes that did not decode).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")


class InputError(ValueError):
    """Bad input to ``check``: the message is safe to show (it never contains the note)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _clean_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InputError("invalid_type", f"text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InputError("empty_text", "text is empty or only whitespace")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            "text_too_long", f"text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}"
        )
    if _CONTROL_RE.search(text):
        raise InputError(
            "binary_content",
            "text contains control or undecodable characters; send plain UTF-8 text",
        )
    return text


class NoteInput(NamedTuple):
    """One note's inputs after validation."""

    text: str
    billed_code: str | None = None
    minutes: float | None = None
    staff_level: str | None = None


def validate_input(
    text: Any,
    billed_code: Any = None,
    minutes: Any = None,
    staff_level: Any = None,
    services: ServiceRules | None = None,
) -> NoteInput:
    """Check one note's inputs; returns them normalized or raises ``InputError``.

    ``services`` is the profile's (default: Illinois): the billed codes and staff levels it knows.
    """
    clean = _clean_text(text)
    services = services or default_service_rules()
    code = None
    if billed_code is not None and billed_code != "":
        if not isinstance(billed_code, str):
            raise InputError("unknown_billed_code", "billed_code must be a string")
        billed_code = services.code_map.get(billed_code.strip().upper(), billed_code)
        try:
            code = normalize_label(billed_code)
            if code not in services.billable_labels:
                # A claim is for a service; a note not billed has no billed code.
                raise ValueError(code)
        except ValueError:
            code = next(
                (c for c in services.billed_codes if c == billed_code.strip().upper()), None
            )
            if code is None:
                raise InputError(
                    "unknown_billed_code",
                    f"unknown billed_code; expected one of {', '.join(services.billed_codes)}",
                ) from None
    mins = None
    if minutes is not None and minutes != "":
        try:
            mins = float(minutes)
        except (TypeError, ValueError):
            raise InputError("invalid_minutes", "minutes must be a number") from None
        if isinstance(minutes, bool) or not 0 < mins <= MAX_MINUTES or mins != mins:
            raise InputError("invalid_minutes", f"minutes must be between 0 and {MAX_MINUTES}")
    level = None
    if staff_level is not None and staff_level != "":
        level = services.staff_level(staff_level) if isinstance(staff_level, str) else None
        if level is None:
            raise InputError(
                "unknown_staff_level",
                f"unknown staff_level; expected one of {', '.join(services.levels)}",
            )
    return NoteInput(clean, code, mins, level)


@dataclass(frozen=True)
class CheckError:
    """A note that could not be checked, in place of its Result in ``check_many``."""

    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the API's error shape."""
        return {"error": {"code": self.code, "message": self.message}}


def rule_tokens(doc: Doc, catalog: RuleCatalog) -> str:
    """The note's rule hits as model features: ``rule.id`` or ``rule.id~modifier``."""
    tokens = []
    by_id = catalog.by_id
    for match in rule_matches(doc).values():
        rule = by_id[match.rule_id]
        if match.section_modifier is not None:
            tokens.append(f"{rule.id}~{match.section_modifier}")
            continue
        discount = next((m for m in match.modifiers if m in rule.discounted_by), None)
        tokens.append(rule.id if discount is None else f"{rule.id}~{discount}")
    return " ".join(tokens)


def context_text(doc: Doc, sections: SectionRules) -> str:
    """Goal, plan and assessment text (not header fields): what the note is about."""
    text = doc_text(doc)
    return "\n".join(
        text[p.start_char : p.end_char]
        for p in tagged_sections(doc)
        if not sections.kinds[p.kind].model_reads and p.kind != "header"
    )


def model_text(doc: Doc, sections: SectionRules) -> str:
    """The text the model reads: the note's counting sections (what was done, the response).

    Goal, plan, assessment and header text say what the note is for or what will happen; they
    are left out so that boilerplate cannot outweigh the activity. A note with no headings is
    all activity, so its text is unchanged.
    """
    parts = tagged_sections(doc)
    if all(sections.kinds[p.kind].model_reads for p in parts):
        return doc_text(doc)
    text = doc_text(doc)
    return "\n".join(
        text[p.start_char : p.end_char] for p in parts if sections.kinds[p.kind].model_reads
    )


def rule_votes(doc: Doc, catalog: RuleCatalog) -> RuleVotes:
    """Collect the active rule hits of a parsed note by effect."""
    non_billable: list[str] = []
    decisive: list[str] = []
    rules_out: dict[str, list[str]] = {}
    other: list[str] = []
    cues: dict[str, list[str]] = {}
    excludes: dict[str, list[str]] = {}
    overshadowed = overshadowed_cues(doc, catalog)
    off = switched_off(doc, catalog)
    hits = [
        catalog.by_id[match.rule_id]
        for match in counting_matches(doc)
        if match.key not in overshadowed and match.key not in off
    ]
    for rule in hits:
        if rule.effect == "non-billable":
            non_billable.append(rule.id)
            if rule.decisive:
                decisive.append(rule.id)
        elif rule.effect == "other-service":
            other.append(rule.service or "")
        elif rule.effect == "billable-cue" and rule.label:
            cues.setdefault(rule.label, []).append(rule.id)
        elif rule.effect == "excludes" and rule.label:
            excludes.setdefault(rule.label, []).append(rule.id)
            if rule.decisive:
                rules_out.setdefault(rule.label, []).append(rule.id)
    return RuleVotes(
        non_billable=tuple(dict.fromkeys(non_billable)),
        cues={k: tuple(dict.fromkeys(v)) for k, v in cues.items()},
        other_services=tuple(dict.fromkeys(other)),
        excludes={k: tuple(dict.fromkeys(v)) for k, v in excludes.items()},
        decisive=tuple(dict.fromkeys(decisive)),
        decisive_for={
            rule_id: catalog.by_id[rule_id].applies_to
            for rule_id in decisive
            if catalog.by_id[rule_id].applies_to
        },
        rules_out={k: tuple(dict.fromkeys(v)) for k, v in rules_out.items()},
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch of notes is checked.

    A batch keeps thousands of objects alive at once (Docs, spans, results), so the collector
    promotes them and then runs full passes over every object of the process — spaCy, sklearn
    and the model, about 180,000 — each taking a fifth of a second, about a tenth of the time
    spent on long notes. Checking a note makes no reference cycles: everything it allocates is
    freed by reference counting, paused or not. The previous state is restored (a caller that
    turned the collector off keeps it off).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Engine:
    """A loaded pipeline + model. Build once and reuse it (loading takes about 0.3 s)."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        rules_path: str | Path | None = None,
        context_path: str | Path | None = None,
        model: TextModel | None = None,
        profile: str | Profile | None = None,
    ) -> None:
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        borrows = self.profile.borrowed_model is not None
        # The pipeline's own rules are the ones the model was trained with; a profile that
        # borrows another's model matches its own rules on the same Doc afterwards.
        self.nlp = build_nlp(
            str(rules_path) if rules_path and not borrows else None,
            str(context_path) if context_path else None,
        )
        self.model_catalog = catalog_of(self.nlp)
        self.sections = section_rules_of(self.nlp)
        self._profile_matcher: RuleMatcher | None = None
        self._label_map: np.ndarray | None = None
        if borrows:
            catalog = load_catalog(
                rules_path or self.profile.folder.joinpath("rules.toml"), context_path
            )
            if catalog.profile != self.profile.name:
                raise ModelError(f"rules for {catalog.profile!r}, not {self.profile.name!r}")
            self._profile_matcher = RuleMatcher(self.nlp, catalog, self.sections)
            self._label_map = np.array(
                [
                    [
                        float(self.profile.model_map.get(src) == dst)
                        for dst in self.profile.label_codes
                    ]
                    for src in LABELS
                ]
            )
        elif self.profile.label_codes != LABELS:
            raise ModelError(f"profile {self.profile.name!r}: a model of its own needs {LABELS}")
        self.catalog = (
            self._profile_matcher.catalog if self._profile_matcher else self.model_catalog
        )
        self.labels = self.profile.label_codes
        self._modifier_titles = {m.name: m.title for m in self.catalog.context.modifiers}
        self.services: ServiceRules = services_for(self.profile)
        # ``model`` lets evaluation run a freshly fitted model through the same engine.
        self.model: TextModel = (
            model
            if model is not None
            else load_model(model_dir or default_model_dir(self.profile.model_name))
        )
        trained_on = self.model.meta.get("ruleset_sha256")
        if trained_on != self.model_catalog.sha256:
            raise ModelError(
                "the model was trained with a different rule catalog "
                f"({str(trained_on)[:12]} vs {self.model_catalog.sha256[:12]}); run 'notecheck train'"
            )
        sections_trained = self.model.meta.get("sections_sha256")
        if sections_trained is not None and sections_trained != self.sections.sha256:
            raise ModelError(
                "the model was trained with different section rules "
                f"({str(sections_trained)[:12]} vs {self.sections.sha256[:12]}); "
                "run 'notecheck train'"
            )

    @property
    def model_version(self) -> str:
        """The loaded model's version."""
        return self.model.version

    @property
    def ruleset_version(self) -> str:
        """The loaded rule catalog's version."""
        return self.catalog.version

    # -- core -------------------------------------------------------------------------------

    def parse(self, texts: Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[Doc]:
        """Run the spaCy pipeline (tokens, lemmas, sentences, the model's rule spans)."""
        return parse_texts(self.nlp, texts, batch_size=batch_size)

    def parse_with_profile_rules(self, texts: Iterable[str]) -> Iterator[Doc]:
        """``parse``, with this profile's own rules matched (what its votes and evidence read)."""
        for doc in self.parse(texts):
            yield self._profile_matcher(doc) if self._profile_matcher is not None else doc

    def _results(self, items: list[NoteInput], batch_size: int) -> list[Result]:
        with _collector_paused():
            return self._results_unpaused(items, batch_size)

    def _results_unpaused(self, items: list[NoteInput], batch_size: int) -> list[Result]:
        # Rules and model read folded text (no zero-width characters or look-alike letters);
        # the result points into the text as given.
        folds = [fold(item.text) for item in items]
        originals = items
        items = [item._replace(text=folded.text) for item, folded in zip(items, folds, strict=True)]
        texts = [item.text for item in items]
        docs = list(self.parse(texts, batch_size=batch_size))
        model_input = self.model.meta.get("model_input", "full")
        if model_input == "full":
            inputs = texts  # a model trained on whole notes reads whole notes
        else:
            inputs = [model_text(doc, self.sections) for doc in docs]
        context = (
            [context_text(doc, self.sections) for doc in docs]
            if model_input == "sections+context"
            else None
        )
        rows = make_rows(inputs, [rule_tokens(doc, self.model_catalog) for doc in docs], context)
        features = self.model.features(rows)
        model_probabilities = self.model.predict_proba_features(features)
        probabilities = model_probabilities
        if self._profile_matcher is not None and self._label_map is not None:
            # The borrowed model's labels summed onto this profile's; its rules replace the
            # model's rules on the Doc from here on (votes, evidence, activities).
            probabilities = model_probabilities @ self._label_map
            for doc in docs:
                self._profile_matcher(doc)
        votes = [rule_votes(doc, self.catalog) for doc in docs]
        decisions = []
        for doc, probs, doc_votes, seen in zip(docs, probabilities, votes, inputs, strict=True):
            doc.cats = dict(zip(self.labels, map(float, probs), strict=True))  # spaCy's own slot
            decisions.append(
                decide(
                    doc.cats,
                    doc_votes,
                    has_activity=bool(seen.strip()),
                    labels=self.labels,
                    non_billable=self.profile.non_billable,
                    override_below=self.profile.override_below,
                    override_floor=self.profile.override_floor,
                )
            )
        terms = self.model.top_terms_features(
            features,
            [
                self._model_label(d.label, row)
                for d, row in zip(decisions, model_probabilities, strict=True)
            ],
        )
        return [
            unfold_result(
                self._build_result(item, doc, probs, decision, doc_votes, term_list),
                folded,
                original.text,
            )
            for item, doc, probs, decision, doc_votes, term_list, folded, original in zip(
                items, docs, probabilities, decisions, votes, terms, folds, originals, strict=True
            )
        ]

    def _model_label(self, label: str, model_row: np.ndarray) -> str:
        """The model's own label behind a profile label (its most probable one that maps to it)."""
        if self._label_map is None:
            return label
        column = self.labels.index(label)
        sources = [i for i in range(len(LABELS)) if self._label_map[i, column]]
        return LABELS[max(sources, key=lambda i: model_row[i])]

    def _below_minimum(
        self, decision: Decision, time: TimeBreakdown, probs: np.ndarray
    ) -> Decision:
        """A profile where time under the minimum is not billable (001 §2) relabels a short note.

        The time split is kept: its billable minutes are what a same-day combination adds up.
        """
        units = self.profile.units
        short = (
            units.below_minimum_not_billable
            and decision.label in self.profile.billable_labels
            and time.billable_minutes is not None
            and 0 < time.billable_minutes < units.minimum_minutes
        )
        if not short:
            return decision
        cited = f" ({short_citation(units.citations[0])})" if units.citations else ""
        return replace(
            decision,
            label=self.profile.non_billable,
            confidence=float(probs[self.labels.index(self.profile.non_billable)]),
            needs_review=True,
            review_reasons=(
                *decision.review_reasons,
                f"{time.billable_minutes:g} billable minutes of {decision.label} is under the "
                f"{units.minimum_minutes:g}-minute minimum{cited}: billable only combined with "
                "the client's other significant contacts that day",
            ),
            overridden=True,
        )

    def _build_result(
        self,
        item: NoteInput,
        doc: Doc,
        probs: np.ndarray,
        decision: Decision,
        votes: RuleVotes,
        terms: list[Any],
    ) -> Result:
        text, billed_code, minutes = item.text, item.billed_code, item.minutes
        evidence: list[Evidence] = []
        fired: dict[str, list[int]] = {}
        off = switched_off(doc, self.catalog)
        overshadowed = overshadowed_cues(doc, self.catalog)
        matches = rule_matches(doc).values()
        by_id = self.catalog.by_id
        # A context fact ("a professional is named") is shown only where a rule of this note
        # reads it: on its own it says nothing about the note.
        readers = {by_id[m.rule_id] for m in matches if by_id[m.rule_id].unless}
        for match in matches:
            rule = by_id[match.rule_id]
            if rule.effect == "context" and not any(r.reads(rule.id) for r in readers):
                continue
            is_active = match.counts
            modifiers = match.modifiers
            by = off.get(match.key) if is_active else None
            if by:
                is_active = False
                modifiers = (*modifiers, f"unless:{by}")
            elif is_active and match.key in overshadowed:
                is_active = False
                modifiers = (*modifiers, CHANNEL_ONLY)
            counts = fired.setdefault(rule.id, [0, 0])
            counts[0] += 1
            counts[1] += int(is_active)
            words = text[match.start_char : match.end_char]
            evidence.append(
                Evidence(
                    start=match.start_char,
                    end=match.end_char,
                    text=words,
                    rule_id=rule.id,
                    effect=rule.effect,
                    negated="negated" in modifiers,
                    modifiers=modifiers,
                    active=is_active,
                    label=rule.label,
                    sentence=_evidence_sentence(
                        match, words, rule, is_active, modifiers, self._modifier_titles
                    ),
                )
            )
        evidence += _model_evidence(text, terms, decision.label)
        evidence.sort(key=lambda e: (e.start, e.end, e.rule_id))
        rules_fired = tuple(
            RuleFired(
                rule_id=rule_id,
                title=self.catalog.by_id[rule_id].title,
                effect=self.catalog.by_id[rule_id].effect,
                citation=self.catalog.by_id[rule_id].citation,
                source=describe(self.catalog.by_id[rule_id].citations[0]),
                explanation=self.catalog.by_id[rule_id].explanation,
                label=self.catalog.by_id[rule_id].label,
                matches=counts[0],
                active_matches=counts[1],
            )
            for rule_id, counts in fired.items()
        )
        mentions = find_times(text)
        stated = note_time(text, mentions)
        activities = segments(doc, self.catalog, mentions, stated.total_mention)
        time = time_split(
            decision.label,
            activities,
            stated,
            minutes,
            units=self.profile.units.units,
            non_billable_label=self.profile.non_billable,
            per_contact=self.profile.units.per_contact,
            clocks=_activity_clocks(activities, mentions) if self.profile.units.per_contact else (),
        )
        decision = self._below_minimum(decision, time, probs)
        if billed_code and self.services.unclassified(billed_code):
            # A code the engine does not classify (CM-LOCUS) is not judged from the note's
            # words, so neither are its units.
            time = replace(
                time,
                units_supported=None,
                units_at_risk=None,
                explanation=f"{billed_code} is not judged from the note; its units are not "
                "counted here.",
            )
        has_cue = any(votes.cues.values())
        if has_cue:
            intervention, detail = (
                PASS,
                "An intervention is described: "
                + ", ".join(sorted({r for ids in votes.cues.values() for r in ids}))
                + ".",
            )
        elif decision.label == self.profile.non_billable:
            units_cited = self.profile.units.citations
            intervention, detail = (
                FAIL,
                "No billable intervention is described"
                + (f" ({short_citation(units_cited[0])})." if units_cited else "."),
            )
        else:
            intervention, detail = (
                UNKNOWN,
                "The model reads an intervention no rule names; check it.",
            )
        checks = run_checks(
            text,
            time,
            has_start_stop=stated.has_start_stop,
            intervention=intervention,
            intervention_detail=detail,
            goal_missing=_goal_missing(votes, self.catalog),
            label=decision.label,
            names=self.profile.checks,
            units=self.profile.units,
            sources=self.profile.check_sources,
        )
        staff = _staff_check(self.services, billed_code or decision.label, item.staff_level)
        if staff is not None:
            checks.append(staff)
        hints = list(
            _hints(
                decision.label,
                votes,
                billed_code,
                activities,
                time,
                self.catalog,
                self.services,
                self.profile,
            )
        )
        review_reasons = decision.review_reasons
        if staff is not None and staff.status == FAIL:
            review_reasons = (*review_reasons, staff.detail)
        if time.split == "unknown":
            untimed = ", ".join(
                dict.fromkeys(
                    r
                    for a in activities
                    if a.kind == NON_BILLABLE_KIND and a.minutes is None
                    for r in a.rule_ids
                )
            )
            review_reasons = (
                *review_reasons,
                f"time split unknown: the non-billable activity ({untimed}) states no minutes"
                + (
                    f"; {time.unallocated_minutes:g} of {time.total_minutes:g} minutes are not "
                    "allocated to an activity"
                    if time.unallocated_minutes
                    else ""
                ),
            )
        if billed_code is not None and time.units_supported == 0:
            review_reasons = (*review_reasons, f"billed as {billed_code}, but no unit is supported")
        return Result(
            label=decision.label,
            probabilities={label: float(p) for label, p in zip(self.labels, probs, strict=True)},
            confidence=decision.confidence,
            needs_review=bool(review_reasons),
            review_reasons=tuple(review_reasons),
            evidence=tuple(evidence),
            rules_fired=rules_fired,
            documentation=tuple(DocumentationCheck(c.name, c.status, c.detail) for c in checks),
            hints=tuple(hints),
            minutes=time.total_minutes,
            units=time.units_supported,
            billed_code=billed_code,
            billed_code_matches=_billed_code_matches(self.services, billed_code, decision.label),
            model_version=self.model_version,
            ruleset_version=self.ruleset_version,
            sections=self._sections(doc),
            activities=tuple(activities),
            time=time,
            extra={
                "model_terms": [
                    {"term": t.term, "kind": t.kind, "weight": round(t.weight, 4)} for t in terms
                ],
                "rules_vote": decision.rules_vote,
                # "rules" when a rule decided over the model (confidence is then the model's
                # probability of a label it did not pick, and can be near 0).
                "decided_by": "rules" if decision.overridden else "model",
            },
            profile=self.profile.name,
        )

    def _sections(self, doc: Doc) -> tuple[Section, ...]:
        return tuple(
            Section(
                start=part.start_char,
                end=part.end_char,
                kind=part.kind,
                heading=part.heading or None,
                counts=self.sections.kinds[part.kind].counts,
            )
            for part in tagged_sections(doc)
        )

    # -- public -----------------------------------------------------------------------------

    def check(
        self,
        text: str,
        *,
        billed_code: str | None = None,
        minutes: float | None = None,
        staff_level: str | None = None,
    ) -> Result:
        """Classify one note. Raises ``InputError`` for bad input.

        ``staff_level`` (RSA, MHP, QMHP, LPHA) adds the ``staff_qualified`` check: the billed
        service, or the label when nothing is billed, must be one that level may provide.
        """
        item = validate_input(text, billed_code, minutes, staff_level, self.services)
        return self._results([item], batch_size=1)[0]

    def check_many(
        self,
        notes: Iterable[str | Mapping[str, Any]],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[Result | CheckError]:
        """Classify many notes, streaming, in input order.

        Each item is a string or a mapping with ``text`` and optional ``billed_code``,
        ``minutes`` and ``staff_level``. A bad item yields a ``CheckError`` in its place;
        nothing is dropped.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        chunk: list[str | Mapping[str, Any]] = []
        for note in notes:
            chunk.append(note)
            if len(chunk) >= batch_size:
                yield from self._check_chunk(chunk, batch_size)
                chunk = []
        if chunk:
            yield from self._check_chunk(chunk, batch_size)

    def _check_chunk(
        self, chunk: list[str | Mapping[str, Any]], batch_size: int
    ) -> list[Result | CheckError]:
        out: list[Result | CheckError | None] = [None] * len(chunk)
        valid: list[NoteInput] = []
        positions: list[int] = []
        for i, note in enumerate(chunk):
            try:
                if isinstance(note, Mapping):
                    item = validate_input(
                        note.get("text"),
                        note.get("billed_code"),
                        note.get("minutes"),
                        note.get("staff_level"),
                        self.services,
                    )
                else:
                    item = validate_input(note, services=self.services)
            except InputError as exc:
                out[i] = CheckError(exc.code, exc.message)
                continue
            valid.append(item)
            positions.append(i)
        if valid:
            for i, result in zip(positions, self._results_each(valid, batch_size), strict=True):
                out[i] = result
        return [r for r in out if r is not None]

    def _results_each(self, items: list[NoteInput], batch_size: int) -> list[Result | CheckError]:
        """``_results``, but a note the engine fails on becomes a ``CheckError`` in its place.

        The error names the exception type only: its message may quote the note.
        """
        try:
            return list(self._results(items, batch_size))
        except Exception as exc:  # noqa: BLE001 - find the note that fails, keep the others
            if len(items) == 1:
                return [CheckError("internal_error", f"the check failed ({type(exc).__name__})")]
        return [outcome for item in items for outcome in self._results_each([item], 1)]


def _evidence_sentence(
    match: RuleMatch,
    words: str,
    rule: Any,
    is_active: bool,
    modifiers: tuple[str, ...],
    titles: dict[str, str],
) -> str:
    where = f"'{words}' (chars {match.start_char}–{match.end_char})"
    first = describe(rule.citations[0])
    if not is_active:
        why = ", ".join(
            _SECTION_REASONS.get(m)
            or (_CHANNEL_REASON if m == CHANNEL_ONLY else None)
            or (f"the note also shows {m[7:]}" if m.startswith("unless:") else None)
            or titles.get(m, m).lower()
            for m in modifiers
            if m in rule.discounted_by
            or m in _SECTION_REASONS
            or m.startswith("unless:")
            or m == CHANNEL_ONLY
        )
        return f"{where} → not counted ({why}): {rule.title}, {first}"
    meaning = {
        "non-billable": "non-billable",
        "billable-cue": f"supports {rule.label}",
        "other-service": f"another service ({rule.service})",
        "excludes": f"rules out {rule.label}",
        "context": "context for other rules",
    }[rule.effect]
    return f"{where} → {meaning}: {rule.title}, {first}"


def _activity_clocks(
    activities: list[Activity], mentions: list[Any]
) -> list[tuple[int, int] | None]:
    """Each activity's clock range (the first one stated inside it), or None."""
    ranged = [m for m in mentions if m.clock is not None]
    return [
        next((m.clock for m in ranged if a.start <= m.start and m.end <= a.end), None)
        for a in activities
    ]


def _staff_check(services: ServiceRules, code: str, level: str | None) -> Check | None:
    """000 Q61: the service must be one the staff member's level may provide."""
    if level is None:
        return None
    allowed = services.staff_allowed(code, level)
    if allowed is None:
        return None
    service = services.services[code]
    where = short_citation(service.citations[0])
    if allowed:
        return Check(
            "staff_qualified",
            PASS,
            f"{code} may be provided by an {level} (at least {service.min_staff}, {where}).",
        )
    return Check(
        "staff_qualified",
        FAIL,
        f"{code} must be provided by at least an {service.min_staff} ({where}); "
        f"the staff level given is {level}.",
    )


def _billed_code_matches(
    services: ServiceRules, billed_code: str | None, label: str
) -> bool | None:
    """Whether the billed code is the label.

    None when nothing is billed, or for a code the engine does not classify (CM-LOCUS is
    billed as an event, not read from the note).
    """
    if billed_code is None:
        return None
    if services.unclassified(billed_code):
        return None
    return billed_code == label


def _goal_missing(votes: RuleVotes, catalog: Any) -> str | None:
    """The reason to fail ``goal_named`` when the note says the ITP has no goal for the need."""
    if "itp.no_objective" in votes.non_billable:
        rule = catalog.by_id["itp.no_objective"]
        return f"{rule.title} ({short_citation(rule.citations[0])})."
    return None


# The modifier on a generic cue whose clause another rule names the purpose of.
CHANNEL_ONLY = "channel_only"
_CHANNEL_REASON = "only how the contact was made; the clause says what it was for"

_SECTION_REASONS = {
    "in_goal": "in the goal/objective text, not an activity",
    "in_plan": "in the plan, not done in this contact",
    "in_assessment": "in the assessment, not an activity",
    "in_header": "in a header or signature field",
    "in_response": "in the client's response, not what staff did",
}


@functools.lru_cache(maxsize=8192)
def _term_pattern(term: str) -> re.Pattern[str]:
    """A model term as a whole-word pattern, compiled once (the vocabulary is fixed)."""
    return re.compile(rf"(?<![\w/'-]){re.escape(term)}(?![\w/'-])", re.IGNORECASE)


def _model_evidence(text: str, terms: list[Any], label: str) -> list[Evidence]:
    found = []
    for term in terms[:_MODEL_TERMS_SHOWN]:
        words = [w.removesuffix("'s").removesuffix("’s") for w in term.term.lower().split()]
        if term.kind != "words" or all(w in _UNINFORMATIVE for w in words):
            continue  # "clt's", "for clt's": who the note is about, not what was done
        if not any(ch.isalpha() for ch in term.term):
            continue  # "10", "30": a clock or a count says nothing a reviewer can act on
        match = _term_pattern(term.term).search(text)
        if match:
            found.append(
                Evidence(
                    start=match.start(),
                    end=match.end(),
                    text=text[match.start() : match.end()],
                    rule_id="model.term",
                    effect="model-cue",
                    negated=False,
                    label=label,
                    sentence=(
                        f"'{text[match.start() : match.end()]}' (chars {match.start()}–{match.end()}) "
                        f"→ the model's strongest cue for {label} (weight {term.weight:.2f})"
                    ),
                )
            )
    return found


def _hints(
    label: str,
    votes: RuleVotes,
    billed_code: str | None,
    activities: list[Activity],
    time: TimeBreakdown,
    catalog: RuleCatalog,
    services: ServiceRules,
    profile: Profile,
) -> Iterator[str]:
    unclassified = services.unclassified(billed_code)
    non_billable_label = profile.non_billable
    unit_source = short_citation(profile.units.citations[0]) if profile.units.citations else ""
    if unclassified:
        pass  # billed as a service the engine does not judge: no advice about the label
    elif label == non_billable_label and votes.decisive:
        # A rule the seed states without exception says what to do instead (ACT, amend the ITP).
        for rule_id in dict.fromkeys(votes.decisive):
            yield catalog.by_id[rule_id].explanation
    elif label == non_billable_label and votes.other_services:
        for service in votes.other_services:
            yield f"Not billable as case management; the note may describe {service} instead."
    elif label == non_billable_label:
        yield "Describe the intervention done for or with the client, or do not bill this time."
    non_billable = [a for a in activities if a.kind == NON_BILLABLE_KIND]
    if label in profile.billable_labels and non_billable:
        rules = ", ".join(dict.fromkeys(r for a in non_billable for r in a.rule_ids))
        if time.split == "stated" and time.billable_minutes is not None:
            yield (
                f"Bill only the intervention time: {time.billable_minutes:g} of "
                f"{time.total_minutes:g} minutes ({time.units_supported} unit(s)); the rest is "
                f"non-billable activity ({rules}{', ' + unit_source if unit_source else ''})."
            )
        else:
            yield (
                "Bill only the intervention time; the flagged non-billable activity "
                f"({rules}) is not billable time{' (' + unit_source + ')' if unit_source else ''}."
            )
    if time.units_at_risk:
        yield (
            f"{time.units_at_risk} of {time.units_billed} unit(s) are at risk: the note supports "
            f"{time.units_supported}."
        )
    if unclassified:
        cap = services.cap_of(billed_code)
        yield (
            f"Billed as {billed_code}, a service notecheck does not judge from the note's words"
            + (
                f"; its hours count toward the {cap.hours:g}-hour {cap.name} cap "
                f"({short_citation(cap.citations[0])})."
                if cap
                else "."
            )
        )
    elif billed_code is not None and billed_code != label:
        yield f"Billed as {billed_code}, but the note reads as {label}."


_default_engines: dict[str, Engine] = {}
_default_lock = threading.Lock()


def default_engine(profile: str | None = None) -> Engine:
    """The shared engine of a profile (default: ``$NOTECHECK_PROFILE``, else Illinois).

    Built on first use with the shipped model, one per profile, thread-safe.
    """
    name = load_profile(profile).name
    engine = _default_engines.get(name)
    if engine is None:
        with _default_lock:
            engine = _default_engines.get(name)
            if engine is None:
                engine = _default_engines[name] = Engine(profile=name)
    return engine


def check(
    text: str,
    *,
    billed_code: str | None = None,
    minutes: float | None = None,
    staff_level: str | None = None,
    profile: str | None = None,
) -> Result:
    """Classify one progress note with the shipped model. See ``Engine.check``."""
    return default_engine(profile).check(
        text, billed_code=billed_code, minutes=minutes, staff_level=staff_level
    )


def check_many(
    notes: Iterable[str | Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    profile: str | None = None,
) -> Iterator[Result | CheckError]:
    """Classify many notes in order, streaming. See ``Engine.check_many``."""
    return default_engine(profile).check_many(notes, batch_size=batch_size)
