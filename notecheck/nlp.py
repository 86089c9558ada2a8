"""The spaCy pipeline: blank English, EHR-aware tokenizer, lookup lemmas, sentences, rules.

Nothing is downloaded: lemmas come from the lookup table in the ``spacy-lookups-data`` registry
package, and the rule component is built from the catalog data.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy
import spacy
from spacy.attrs import LEMMA, LOWER, ORTH, SENT_START
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span
from spacy.util import compile_infix_regex, compile_suffix_regex, filter_spans

from notecheck.catalog import Element, RuleCatalog
from notecheck.lemmas import lemma
from notecheck.sections import (
    ACTIVITY,
    SECTIONS_KEY,
    SectionRules,
    SectionTagger,
    remember_text,
    tagged_sections,
)

SPAN_KEY = "notecheck"

# Shorthand that must stay one token so patterns can name it ("f/u", "d/c", "w/").
_SPECIAL_CASES = ("f/u", "d/c", "w/o", "s/p", "h/o", "c/o", "n/a", "r/o", "b/c", "w/", "y/o")
# "1.5hrs", "30min", "2:45pm" -> number + unit, so durations and times are tokens of their own.
_UNIT_SUFFIX = r"(?<=[0-9])(?:hrs?|hours?|mins?|minutes?|am|pm|a\.m\.|p\.m\.|u)$"
_SENT_PUNCT = frozenset({".", "!", "?"})

if not Span.has_extension("nc_modifiers"):
    # Names of the context modifiers whose scope covers the span ("negated", ...).
    Span.set_extension("nc_modifiers", default=())
if not Span.has_extension("nc_section"):
    # The kind of section the span sits in ("activity", "plan", ...).
    Span.set_extension("nc_section", default=ACTIVITY)
if not Span.has_extension("nc_section_modifier"):
    # The section's discounting modifier ("in_plan"), None where the section counts.
    Span.set_extension("nc_section_modifier", default=None)


# ORTH hash -> lemma: a note's words repeat across notes, so each is looked up once.
_LEMMA_OF: dict[int, str] = {}


@Language.component("notecheck_lemmas")
def notecheck_lemmas(doc: Doc) -> Doc:
    """Set every token's lemma from the lookup table, on lower-cased text (case-free patterns).

    One array read and one array write instead of a Python attribute per token.
    """
    if len(doc) == 0:
        return doc
    strings = doc.vocab.strings
    orths = doc.to_array([ORTH])
    out = []
    for orth in orths.tolist():
        found = _LEMMA_OF.get(orth)
        if found is None:
            found = lemma(strings[orth])
            if len(_LEMMA_OF) < 500_000:  # bounded: a long-running server sees many words
                _LEMMA_OF[orth] = found
        out.append(strings.add(found))
    array: Any = numpy.asarray(out, dtype="uint64").reshape(-1, 1)
    doc.from_array([LEMMA], array)
    return doc


@Language.component("notecheck_sentences")
def notecheck_sentences(doc: Doc) -> Doc:
    """Split sentences on terminal punctuation and on line breaks (EHR notes use both)."""
    if len(doc) == 0:
        return doc
    strings = doc.vocab.strings
    # A token's text and trailing whitespace, read as arrays, not as Token objects.
    words = [strings[o] for o in doc.to_array([ORTH]).tolist()]
    starts = [1]
    for word in words[:-1]:
        # spaCy keeps line breaks as whitespace tokens of their own ("\n", " \n").
        starts.append(1 if word in _SENT_PUNCT or "\n" in word else -1)
    # One array write instead of a Python attribute assignment per token.
    array: Any = numpy.asarray(starts, dtype="int64").astype("uint64")
    doc.from_array([SENT_START], array)
    return doc


# An indexed pattern: rule id, elements, the step after the first word, and a quick test of
# the word after the first (lemma or lower-case form, allowed values), when it is required.
# (rule id, pattern, step to match from, the next word's test, the whole rest as plain words)
_Word = tuple[bool, frozenset[str]]  # (compare the lemma?, allowed values)
_Indexed = tuple[str, tuple[Element, ...], int, _Word | None, tuple[_Word, ...] | None]


class RuleMatcher:
    """Matches catalog rules, writes spans to ``doc.spans['notecheck']`` with context modifiers.

    Each span carries its rule id (``span.id_``), its effect (``span.label_``) and the names of
    the context modifiers that cover it (``span._.nc_modifiers``).

    Patterns are indexed by their first word, so a token only tries the patterns that can start
    there. spaCy's ``Matcher`` tries every pattern at every token; with this catalog (about 2,600
    patterns once alternatives are expanded) that cost 10 ms per note, this index 0.5 ms.
    """

    def __init__(
        self, nlp: Language, catalog: RuleCatalog, sections: SectionRules | None = None
    ) -> None:
        self.catalog = catalog
        self.sections = sections
        self.index: dict[tuple[str, str], list[_Indexed]] = {}
        for rule in catalog.enabled_rules:
            for pattern in rule.compiled_patterns():
                step = 2 if pattern[0].behind else 1
                first = pattern[step - 1]
                assert first.values is not None
                # Most candidates fail on the word after the first: test it before recursing.
                after = pattern[step] if step < len(pattern) else None
                quick = (
                    (after.attr == "lemma", after.values)
                    if after is not None
                    and after.values is not None
                    and not after.negate
                    and after.min_count >= 1
                    else None
                )
                # Most patterns are plain words after the first: matched in a loop, no recursion.
                rest = pattern[step:]
                plain: tuple[_Word, ...] | None = None
                if all(
                    e.values is not None and not e.negate and e.min_count == e.max_count == 1
                    for e in rest
                ):
                    plain = tuple((e.attr == "lemma", e.values) for e in rest if e.values)
                for value in first.values:
                    self.index.setdefault((first.attr, value), []).append(
                        (rule.id, pattern, step, quick, plain)
                    )
        self.triggers = PhraseMatcher(nlp.vocab, attr="LOWER")
        # key -> {phrase length: phrases}, compared with the lower-cased words before a trigger
        self._not_after: dict[str, dict[int, frozenset[tuple[str, ...]]]] = {}
        self._trigger_info: dict[str, tuple[str, str, int, frozenset[str], frozenset[str]]] = {}
        base_terms = frozenset(t.lower() for t in catalog.context.terminators)
        for i, mod in enumerate(catalog.context.modifiers):
            key = f"ctx{i}"
            terms = (base_terms | {t.lower() for t in mod.extra_terminators}) - {
                t.lower() for t in mod.ignored_terminators
            }
            self._trigger_info[key] = (
                mod.name,
                mod.direction,
                mod.window,
                frozenset(terms),
                frozenset(j.lower() for j in mod.list_joiners),
            )
            self.triggers.add(key, [nlp.make_doc(t) for t in mod.triggers])
            if mod.not_after:
                by_length: dict[int, set[tuple[str, ...]]] = {}
                for phrase in mod.not_after:
                    words = tuple(t.lower_ for t in nlp.make_doc(phrase))
                    by_length.setdefault(len(words), set()).add(words)
                self._not_after[key] = {n: frozenset(p) for n, p in by_length.items()}

    @staticmethod
    def _longest(
        words: tuple[list[str], list[str]],
        starts: list[bool],
        pattern: tuple[Element, ...],
        step: int,
        pos: int,
    ) -> int:
        """The furthest token index where ``pattern[step:]`` can end from ``pos`` (-1: none).

        ``words`` holds the doc's lemmas and lower-cased forms and ``starts`` its sentence
        starts, as plain lists: matching walks Python strings, not spaCy Token objects.
        """
        if step == len(pattern):
            return pos
        element = pattern[step]
        values = element.values
        attr = words[0] if element.attr == "lemma" else words[1]
        n = len(starts)
        if element.negate:
            # Zero width: the next token (within the sentence) must not be one of the values.
            if pos < n and not starts[pos] and values is not None and attr[pos] in values:
                return -1
            return RuleMatcher._longest(words, starts, pattern, step + 1, pos)
        best = -1
        # After a gap, only positions where the next required word matches are worth a call.
        after = pattern[step + 1] if values is None and step + 1 < len(pattern) else None
        if after is not None and (after.values is None or after.negate or not after.min_count):
            after = None
        after_attr = None if after is None else (words[0] if after.attr == "lemma" else words[1])
        for count in range(element.min_count, element.max_count + 1):
            stop = pos + count
            if stop > n:
                break
            if count:
                last = stop - 1
                # Never run on into the next sentence.
                if starts[last]:
                    break
                if values is not None and attr[last] not in values:
                    break
            if after is not None and (
                stop >= n or starts[stop] or after_attr[stop] not in after.values  # type: ignore[index,operator]
            ):
                continue
            end = RuleMatcher._longest(words, starts, pattern, step + 1, stop)
            if end > best:
                best = end
        return best

    def __call__(self, doc: Doc) -> Doc:
        """Match every enabled rule, keep the longest non-overlapping span per rule."""
        by_rule: dict[str, list[Span]] = {}
        strings = doc.vocab.strings
        # Column by column: a list of per-token rows costs several times as much to build.
        table: Any = doc.to_array([LEMMA, LOWER, SENT_START]) if len(doc) else None
        lemmas = [strings[h] for h in table[:, 0].tolist()] if len(doc) else []
        lowers = [strings[h] for h in table[:, 1].tolist()] if len(doc) else []
        starts = (table[:, 2] == 1).tolist() if len(doc) else []
        if starts:
            starts[0] = True
        words = (lemmas, lowers)
        index = self.index
        n_tokens = len(lemmas)
        empty: list[_Indexed] = []
        for i in range(n_tokens):
            by_lemma = index.get(("lemma", lemmas[i]), empty)
            by_lower = index.get(("lower", lowers[i]), empty)
            candidates = by_lemma + by_lower if by_lower else by_lemma
            for rule_id, pattern, step, quick, plain in candidates:
                if quick is not None:
                    nxt = i + 1
                    if (
                        nxt >= n_tokens
                        or starts[nxt]
                        or (lemmas if quick[0] else lowers)[nxt] not in quick[1]
                    ):
                        continue
                if step == 2:
                    before = pattern[0]
                    if i > 0 and not starts[i] and before.values is not None:
                        prev = lemmas[i - 1] if before.attr == "lemma" else lowers[i - 1]
                        if prev in before.values:
                            continue
                if plain is not None:
                    end = i + 1 + len(plain)
                    if end > n_tokens:
                        continue
                    for k, (use_lemma, values) in enumerate(plain, i + 1):
                        if starts[k] or (lemmas if use_lemma else lowers)[k] not in values:
                            end = -1
                            break
                else:
                    end = self._longest(words, starts, pattern, step, i + 1)
                if end >= 0:
                    by_rule.setdefault(rule_id, []).append(doc[i:end])
        spans: list[Span] = []
        for rule_id, found in by_rule.items():
            effect = self.catalog.by_id[rule_id].effect
            for span in filter_spans(found):
                spans.append(Span(doc, span.start, span.end, label=effect, span_id=rule_id))
        spans.sort(key=lambda s: (s.start, s.end, s.id_))
        self._apply_context(doc, spans, lowers)
        self._apply_sections(doc, spans)
        doc.spans[SPAN_KEY] = spans
        # The counting spans, from the list in hand (reading the SpanGroup back builds Spans).
        by_id = self.catalog.by_id
        counting = tuple(s for s in spans if active(s, by_id[str(s.id_)].discounted_by))
        doc.user_data[_ACTIVE_KEY] = (self.catalog.sha256, counting)
        return doc

    def _apply_sections(self, doc: Doc, spans: list[Span]) -> None:
        """A match in a goal, plan, assessment or header section is not what was done."""
        if not spans or self.sections is None or SECTIONS_KEY not in doc.spans:
            return
        parts = tagged_sections(doc)
        starts = [p.start for p in parts]
        for span in spans:
            at = bisect.bisect_right(starts, span.start) - 1
            if at < 0:
                continue
            kind = parts[at].kind
            modifier = self.sections.modifier_of(kind)
            span._.nc_section = kind
            if modifier:
                span._.nc_section_modifier = modifier
                span._.nc_modifiers = (*span._.nc_modifiers, modifier)

    def _cancelled(self, lowers: list[str], key: str, start: int) -> bool:
        """Whether the words right before a trigger cancel it (``not_after``)."""
        phrases = self._not_after.get(key)
        if not phrases:
            return False
        return any(
            n <= start and tuple(lowers[start - n : start]) in found for n, found in phrases.items()
        )

    def _apply_context(self, doc: Doc, spans: list[Span], lowers: list[str]) -> None:
        if not spans:
            return
        triggers = [
            (key, s, e)
            for key, s, e in ((doc.vocab.strings[k], s, e) for k, s, e in self.triggers(doc))
            if not self._cancelled(lowers, key, s)
        ]
        for span in spans:
            sent = span.sent
            names: list[str] = []
            for key, t_start, t_end in triggers:
                name, direction, window, terms, joiners = self._trigger_info[key]
                if name in names or t_start < sent.start or t_end > sent.end:
                    continue
                if direction == "forward" and t_end <= span.start:
                    gap = doc[t_end : span.start]
                elif direction == "backward" and t_start >= span.end:
                    gap = doc[span.end : t_start]
                else:
                    continue
                if joiners and _in_list(doc, t_end, sent.end, terms, joiners):
                    words = [t for t in gap if t.lower_ != "," and t.lower_ not in joiners]
                    if len(words) <= window and not any(t.lower_ in terms for t in words):
                        names.append(name)
                elif len(gap) <= window and not any(t.lower_ in terms for t in gap):
                    names.append(name)
            span._.nc_modifiers = tuple(names)


def _in_list(
    doc: Doc, start: int, end: int, terms: frozenset[str], joiners: frozenset[str]
) -> bool:
    """True when a comma list closed by a joiner ("x, y, or z") follows ``start``."""
    seen_comma = False
    for token in doc[start:end]:
        word = token.lower_
        if word in joiners:
            return seen_comma
        if word == ",":
            seen_comma = True
        elif word in terms:
            return False
    return False


@Language.factory(
    "notecheck_rules",
    default_config={"rules_path": None, "context_path": None},
)
def make_rule_matcher(
    nlp: Language, name: str, rules_path: str | None, context_path: str | None
) -> RuleMatcher:
    """SpaCy factory for the rule component; the catalog is loaded (and validated) here."""
    from notecheck.catalog import load_catalog

    sections = None
    if "notecheck_sections" in nlp.pipe_names:
        tagger = nlp.get_pipe("notecheck_sections")
        assert isinstance(tagger, SectionTagger)
        sections = tagger.rules
    return RuleMatcher(nlp, load_catalog(rules_path, context_path), sections)


def build_nlp(
    rules_path: str | None = None,
    context_path: str | None = None,
    *,
    sections: bool = True,
    sections_path: str | None = None,
) -> Language:
    """Build the full pipeline; the rule component loads the given (or default) catalog.

    ``sections=False`` leaves out the section component (the engine before sections, kept for
    side-by-side evaluation): every rule match then counts wherever it is.
    """
    nlp = spacy.blank("en")
    tokenizer = nlp.tokenizer
    assert isinstance(tokenizer, Tokenizer)
    for case in _SPECIAL_CASES:
        for variant in {case, case.upper()}:
            tokenizer.add_special_case(variant, [{"ORTH": variant}])
    suffixes = [*(nlp.Defaults.suffixes or ()), _UNIT_SUFFIX]
    tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    # Keep hyphenated words whole ("role-played", "post-discharge", "self-advocacy").
    infixes = [p for p in (nlp.Defaults.infixes or ()) if not re.search(p, "role-played")]
    tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    nlp.add_pipe("notecheck_lemmas")
    nlp.add_pipe("notecheck_sentences")
    if sections:
        nlp.add_pipe("notecheck_sections", config={"sections_path": sections_path})
    nlp.add_pipe("notecheck_rules", config={"rules_path": rules_path, "context_path": context_path})
    return nlp


def parse_texts(nlp: Language, texts: Iterable[str], batch_size: int = 256) -> Iterator[Doc]:
    """Run the pipeline over ``texts``; each Doc keeps the text it was made from.

    ``Doc.text`` is rebuilt from the tokens on every access, a measurable cost per note.
    """
    docs = (remember_text(nlp.make_doc(text), text) for text in texts)
    return nlp.pipe(docs, batch_size=batch_size)


def catalog_of(nlp: Language) -> RuleCatalog:
    """The rule catalog the pipeline's rule component was built from."""
    component = nlp.get_pipe("notecheck_rules")
    assert isinstance(component, RuleMatcher)
    return component.catalog


_ACTIVE_KEY = "notecheck_active"


def active_spans(doc: Doc, catalog: RuleCatalog) -> list[Span]:
    """The rule matches that count (see ``active``), worked out once per Doc.

    The rule votes, the evidence and the activities all read them.
    """
    cached = doc.user_data.get(_ACTIVE_KEY)
    if cached is not None and cached[0] == catalog.sha256:
        return list(cached[1])
    spans = doc.spans[SPAN_KEY] if SPAN_KEY in doc.spans else ()
    found = [s for s in spans if active(s, catalog.by_id[s.id_].discounted_by)]
    doc.user_data[_ACTIVE_KEY] = (catalog.sha256, tuple(found))
    return found


_STANDING_KEY = "notecheck_standing"


def switched_off(doc: Doc, catalog: RuleCatalog) -> dict[tuple[int, int, str], str]:
    """Active matches another standing match switches off ("unless"), with the rule that does.

    Keyed by ``(start, end, rule id)``; worked out once per Doc for the votes, the evidence and
    the activities. A rule with ``unless_scope = "sentence"`` looks only at its own sentence.
    """
    cached = doc.user_data.get(_STANDING_KEY)
    if cached is not None and cached[0] == catalog.sha256:
        return cached[1]
    spans = active_spans(doc, catalog)
    found: dict[tuple[int, int, str], str] = {}
    if any(catalog.by_id[str(s.id_)].unless for s in spans):
        starts: Any = doc.to_array([SENT_START])
        sentence_of = numpy.cumsum(starts == 1).tolist()
        hits = [(str(s.id_), sentence_of[s.start]) for s in spans]
        keep = catalog.standing(hits)
        for span, (rule_id, sentence), kept in zip(spans, hits, keep, strict=True):
            if kept:
                continue
            rule = catalog.by_id[rule_id]
            present = {
                other
                for (other, at), on in zip(hits, keep, strict=True)
                if on and (rule.unless_scope != "sentence" or at == sentence)
            }
            found[(span.start, span.end, rule_id)] = rule.unless_met(present) or "?"
    doc.user_data[_STANDING_KEY] = (catalog.sha256, found)
    return found


def active(span: Span, discounted_by: Iterable[str]) -> bool:
    """True when the span is in a counting section and no context modifier discounts its rule."""
    if span._.nc_section_modifier is not None:
        return False
    return not set(span._.nc_modifiers) & set(discounted_by)


def section_rules_of(nlp: Language) -> SectionRules:
    """The section rules the pipeline's section component was built from."""
    if "notecheck_sections" not in nlp.pipe_names:
        from notecheck.sections import load_section_rules

        return load_section_rules()
    component = nlp.get_pipe("notecheck_sections")
    assert isinstance(component, SectionTagger)
    return component.rules
