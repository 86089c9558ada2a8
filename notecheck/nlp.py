"""The spaCy pipeline: blank English, EHR-aware tokenizer, lookup lemmas, sentences, rules.

Nothing is downloaded: lemmas come from the lookup table in the ``spacy-lookups-data`` registry
package, and the rule component is built from the catalog data.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar

import numpy
import spacy
from spacy.attrs import IDX, LEMMA, LENGTH, ORTH, SENT_START
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span
from spacy.util import compile_infix_regex, compile_suffix_regex

from notecheck.catalog import Element, RuleCatalog
from notecheck.component import BatchedComponent
from notecheck.lemmas import lemma
from notecheck.sections import (
    ACTIVITY,
    SECTIONS_KEY,
    SectionRules,
    SectionTagger,
    remember_text,
    tagged_sections,
)
from notecheck.spelling import shipped_speller

SPAN_KEY = "notecheck"

# Shorthand that must stay one token so patterns can name it ("f/u", "d/c", "w/").
_SPECIAL_CASES = ("f/u", "d/c", "w/o", "s/p", "h/o", "c/o", "n/a", "r/o", "b/c", "w/", "y/o")
# "1.5hrs", "30min", "2:45pm" -> number + unit, so durations and times are tokens of their own.
_UNIT_SUFFIX = r"(?<=[0-9])(?:hrs?|hours?|mins?|minutes?|am|pm|a\.m\.|p\.m\.|u)$"
_SENT_PUNCT = frozenset({".", "!", "?"})


class RuleMatch(NamedTuple):
    """One rule match as plain values: what the engine reads instead of spaCy Spans."""

    start: int  # token offsets
    end: int
    rule_id: str
    start_char: int
    end_char: int
    modifiers: tuple[str, ...]  # context modifiers covering it ("negated"; "in_plan" last)
    section: str  # the kind of section it sits in ("activity", "plan", ...)
    section_modifier: str | None  # that section's discounting modifier, None where it counts
    counts: bool  # in a counting section, and no modifier discounts its rule

    @property
    def key(self) -> tuple[int, int, str]:
        """``(start, end, rule id)``: how the votes, evidence and activities name a match."""
        return (self.start, self.end, self.rule_id)


_MATCHES_KEY = "notecheck_matches"


def rule_matches(doc: Doc) -> dict[tuple[int, int, str], RuleMatch]:
    """The note's rule matches by ``(start, end, rule id)``, in token order.

    Not kept in span extension storage: spaCy keys that by character offsets only, so two
    rules matching the same words would share (and overwrite) each other's modifiers.
    """
    found: dict[tuple[int, int, str], RuleMatch] | None = doc.user_data.get(_MATCHES_KEY)
    return {} if found is None else found


def _match_of(span: Span) -> RuleMatch | None:
    return rule_matches(span.doc).get((span.start, span.end, span.id_))


# Read-only views of ``rule_matches`` for code that reads spans ("span._.nc_modifiers").
Span.set_extension(
    "nc_modifiers", getter=lambda span: m.modifiers if (m := _match_of(span)) else (), force=True
)
Span.set_extension(
    "nc_section", getter=lambda span: m.section if (m := _match_of(span)) else ACTIVITY, force=True
)
Span.set_extension(
    "nc_section_modifier",
    getter=lambda span: m.section_modifier if (m := _match_of(span)) else None,
    force=True,
)


_K = TypeVar("_K")
_V = TypeVar("_V")


def _looked_up(
    keys: list[_K], table: dict[_K, _V], compute: Callable[[_K], _V], limit: int
) -> list[_V]:
    """``[table[k] for k in keys]``, computing (and keeping, up to ``limit``) what is missing.

    A note's words are nearly all known: the whole list is then one ``map`` in C.
    """
    missing = set(keys).difference(table)
    if missing:
        if len(table) + len(missing) > limit:  # bounded: a long-running server sees many words
            return [table[k] if k in table else compute(k) for k in keys]
        for key in missing:
            table[key] = compute(key)
    return list(map(table.__getitem__, keys))


# Per-pipeline lookups are bounded: a long-running server sees many word forms.
_MAX_CACHED = 500_000


@dataclass(frozen=True)
class TokenTable:
    """A parsed note's token attributes as plain lists (walking spaCy Tokens is slow)."""

    lemma: list[str]
    lower: list[str]
    skip: list[bool]  # punctuation or whitespace
    start: list[int]  # character offsets
    end: list[int]
    sent_start: list[bool]  # the first token always starts a sentence


_TOKENS_KEY = "notecheck_tokens"


class WordForm(NamedTuple):
    """What the pipeline reads of a word form (an ORTH): the same for every token of it.

    A misspelt rule word is read as the word meant ("transproted": lower "transported", lemma
    "transport"; see ``notecheck.spelling``); the Doc's own LOWER keeps what was typed.
    """

    lemma_hash: int  # in the pipeline's vocab
    lemma: str
    lower: str
    skip: bool  # punctuation or whitespace
    next_sent_start: int  # SENT_START of the token after it: 1 after ".", "!", "?" or a line break


_WORD_FORMS_KEY = "notecheck_word_forms"
_LEMMA_HASH, _LEMMA, _LOWER, _SKIP, _NEXT_SENT_START = (itemgetter(i) for i in range(5))


def word_forms(doc: Doc) -> list[WordForm] | None:
    """Each token's ``WordForm``, as the lemma component looked them up (None before it)."""
    found: list[WordForm] | None = doc.user_data.get(_WORD_FORMS_KEY)
    return found if found is not None and len(found) == len(doc) else None


def _forms_of(doc: Doc) -> list[WordForm]:
    """``word_forms``, or worked out here for a Doc the lemma component has not seen."""
    forms = word_forms(doc)
    if forms is None:
        forms = [_word_form(doc.vocab, orth) for orth in doc.to_array([ORTH]).tolist()]
    return forms


def token_table(doc: Doc) -> TokenTable:
    """The Doc's token table, read once (by the rule matcher, the pipeline's last step)."""
    cached: TokenTable | None = doc.user_data.get(_TOKENS_KEY)
    if cached is not None:
        return cached
    if not len(doc):
        table = TokenTable([], [], [], [], [], [])
    else:
        # Column by column: a list of per-token rows costs several times as much to build.
        array: Any = doc.to_array([IDX, LENGTH, SENT_START])
        starts = array[:, 0].astype("int64")
        sent_start = (array[:, 2] == 1).tolist()
        sent_start[0] = True
        forms = _forms_of(doc)
        lemmas, lowers = list(map(_LEMMA, forms)), list(map(_LOWER, forms))
        skip = list(map(_SKIP, forms))
        table = TokenTable(
            lemma=lemmas,
            lower=lowers,
            skip=skip,
            start=starts.tolist(),
            end=(starts + array[:, 1].astype("int64")).tolist(),
            sent_start=sent_start,
        )
    doc.user_data[_TOKENS_KEY] = table
    return table


class ChunkPrimingTokenizer:
    """spaCy's tokenizer, fed each new whitespace-separated chunk on its own first.

    spaCy caches how a chunk splits, but stops caching for the rest of a text at its first
    special case (explosion/spaCy#1250) — and a line break or a double space is a special
    case. EHR notes are full of both, so most chunks were split again with the affix regexes
    on every note. A chunk tokenized alone is cached like any other; the note itself is then
    tokenized by spaCy as before, so the tokens are spaCy's own, only found in its cache.
    """

    def __init__(self, tokenizer: Tokenizer, max_chunks: int = 200_000) -> None:
        self.tokenizer = tokenizer
        # spaCy's cache must hold what is primed; both are bounded for a long-running server.
        tokenizer.max_cache_size = max_chunks
        self._max_chunks = max_chunks
        self._primed: set[str] = set()

    def __call__(self, text: str) -> Doc:
        """Tokenize ``text`` exactly as the wrapped tokenizer does."""
        primed = self._primed
        tokenizer = self.tokenizer
        if len(primed) < self._max_chunks:
            for chunk in set(text.split()).difference(primed):
                primed.add(chunk)
                tokenizer(chunk)
        return tokenizer(text)

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Doc]:
        """Tokenize a stream of texts."""
        for text in texts:
            yield self(text)

    def __getattr__(self, name: str) -> Any:
        # Everything else (rules, explain, to_bytes ...) is the wrapped tokenizer's.
        return getattr(self.tokenizer, name)


class LemmaSetter(BatchedComponent):
    """spaCy component: every token's lemma from the lookup table, on lower-cased text.

    Patterns are case-free. What the pipeline reads of a word form (``WordForm``: its lemma,
    lower-case form, whether it is punctuation, whether it ends a sentence) is worked out once
    per pipeline (notes repeat their words), read for a whole Doc with one ``map`` and kept on
    the Doc for the sentence splitter and the token table; the lemmas are written with one
    array write.
    """

    def __init__(self) -> None:
        self._forms: dict[int, WordForm] = {}  # ORTH hash -> its word form, in this vocab

    def __call__(self, doc: Doc) -> Doc:
        """Set the Doc's lemmas."""
        if len(doc) == 0:
            return doc
        vocab = doc.vocab
        forms = _looked_up(
            doc.to_array([ORTH]).tolist(),
            self._forms,
            lambda orth: _word_form(vocab, orth),
            _MAX_CACHED,
        )
        doc.user_data[_WORD_FORMS_KEY] = forms
        array: Any = numpy.fromiter(map(_LEMMA_HASH, forms), dtype="uint64", count=len(forms))
        doc.from_array([LEMMA], array.reshape(-1, 1))
        return doc


def _word_form(vocab: Any, orth: int) -> WordForm:
    word = vocab.strings[orth]
    lexeme = vocab[orth]
    meant = shipped_speller().correct(lexeme.lower_)
    lemma_text = lemma(meant or word)
    return WordForm(
        lemma_hash=vocab.strings.add(lemma_text),
        lemma=lemma_text,
        lower=meant or lexeme.lower_,
        skip=lexeme.is_punct or lexeme.is_space,
        # spaCy keeps line breaks as whitespace tokens of their own ("\n", " \n").
        next_sent_start=1 if word in _SENT_PUNCT or "\n" in word else -1,
    )


@Language.factory("notecheck_lemmas")
def make_lemma_setter(nlp: Language, name: str) -> LemmaSetter:
    """SpaCy factory for the lemma component (its cache belongs to this pipeline's vocab)."""
    shipped_speller()  # built once per process, here rather than inside the first note
    return LemmaSetter()


class SentenceSplitter(BatchedComponent):
    """spaCy component: sentences end at terminal punctuation and at line breaks.

    EHR notes use both. Whether a token ends a sentence depends on its text alone: the lemma
    component has looked it up with the rest of its word form. The starts are written with one
    array write.
    """

    def __call__(self, doc: Doc) -> Doc:
        """Set the Doc's sentence starts."""
        if len(doc) == 0:
            return doc
        forms = _forms_of(doc)
        # A token that ends a sentence makes the next one start it; the first always starts.
        starts = [1, *map(_NEXT_SENT_START, forms[:-1])]
        array: Any = numpy.asarray(starts, dtype="int64").astype("uint64")
        doc.from_array([SENT_START], array)
        return doc


@Language.factory("notecheck_sentences")
def make_sentence_splitter(nlp: Language, name: str) -> SentenceSplitter:
    """SpaCy factory for the sentence component."""
    return SentenceSplitter()


# An indexed pattern: rule id, elements, the step after the first word, and a quick test of
# the word after the first (lemma or lower-case form, allowed values), when it is required.
# (rule id, pattern, step to match from, the next word's test, the whole rest as plain words,
#  the pattern's number, the words it needs somewhere in the note)
_Word = tuple[bool, frozenset[str]]  # (compare the lemma?, allowed values)
_Indexed = tuple[
    str, tuple[Element, ...], int, _Word | None, tuple[_Word, ...] | None, int, tuple[_Word, ...]
]


class RuleMatcher(BatchedComponent):
    """Matches catalog rules, writes spans to ``doc.spans['notecheck']`` with context modifiers.

    Each span carries its rule id (``span.id_``), its effect (``span.label_``) and the names of
    the context modifiers that cover it (``match_context(span)``, or ``span._.nc_modifiers``).

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
        self._by_word: dict[tuple[str, str], tuple[_Indexed, ...]] = {}
        self._patterns: list[tuple[Element, ...]] = []
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
                # The words required after the first (see ``__call__``).
                needs = tuple(
                    (e.attr == "lemma", e.values)
                    for e in rest
                    if e.values is not None and not e.negate and e.min_count >= 1
                )
                number = len(self._patterns)
                self._patterns.append(pattern)
                for value in first.values:
                    self.index.setdefault((first.attr, value), []).append(
                        (rule.id, pattern, step, quick, plain, number, needs)
                    )
        self.triggers = PhraseMatcher(nlp.vocab, attr="LOWER")
        # key -> {phrase length: phrases}, compared with the lower-cased words before a trigger
        self._not_after: dict[str, dict[int, frozenset[tuple[str, ...]]]] = {}
        self._trigger_info: dict[
            str, tuple[str, str, int, frozenset[str], frozenset[str], bool]
        ] = {}
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
                mod.inside,
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
        by_rule: dict[str, list[tuple[int, int]]] = {}
        tokens = token_table(doc)
        lemmas, lowers, starts = tokens.lemma, tokens.lower, tokens.sent_start
        words = (lemmas, lowers)
        n_tokens = len(lemmas)
        note_words = (set(lemmas), set(lowers))
        # Pattern number -> every word it requires after the first occurs in the note. A note
        # without one cannot match: one set test per note replaces a walk from every
        # occurrence of the first word ("clt" starts 60 patterns and occurs ten times a note).
        viable: dict[int, bool] = {}
        by_word = self._by_word
        for i in range(n_tokens):
            key = (lemmas[i], lowers[i])
            candidates = by_word.get(key)
            if candidates is None:
                candidates = self._starting_with(key)
            if not candidates:
                continue
            for rule_id, pattern, step, quick, plain, number, needs in candidates:
                ok = viable.get(number)
                if ok is None:
                    ok = True
                    for use_lemma, values in needs:
                        if values.isdisjoint(note_words[0] if use_lemma else note_words[1]):
                            ok = False
                            break
                    viable[number] = ok
                if not ok:
                    continue
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
                    by_rule.setdefault(rule_id, []).append((i, end))
        matches = sorted(
            (start, end, rule_id)
            for rule_id, found in by_rule.items()
            for start, end in _longest_first(found)
        )
        modifiers = self._context(doc, matches, lowers, starts)
        sections = self._sections(doc, matches)
        by_id = self.catalog.by_id
        spans: list[Span] = []
        records: dict[tuple[int, int, str], RuleMatch] = {}
        for (start, end, rule_id), names, (kind, discount) in zip(
            matches, modifiers, sections, strict=True
        ):
            rule = by_id[rule_id]
            span = Span(doc, start, end, label=rule.effect, span_id=rule_id)
            spans.append(span)
            if discount:
                names = (*names, discount)
            records[(start, end, rule_id)] = RuleMatch(
                start,
                end,
                rule_id,
                span.start_char,
                span.end_char,
                names,
                kind,
                discount or None,
                counts=not discount and not set(names) & set(rule.discounted_by),
            )
        doc.spans[SPAN_KEY] = spans
        doc.user_data[_MATCHES_KEY] = records
        return doc

    def _starting_with(self, word: tuple[str, str]) -> tuple[_Indexed, ...]:
        """The patterns that can start at a word (its lemma, its lower-case form), cached."""
        found = (*self.index.get(("lemma", word[0]), ()), *self.index.get(("lower", word[1]), ()))
        if len(self._by_word) < 200_000:  # bounded: a long-running server sees many words
            self._by_word[word] = found
        return found

    def _sections(self, doc: Doc, matches: list[tuple[int, int, str]]) -> list[tuple[str, str]]:
        """Each match's section kind and that section's discount ("" where it counts).

        A match in a goal, plan, assessment or header section is not what was done.
        """
        if not matches or self.sections is None or SECTIONS_KEY not in doc.spans:
            return [(ACTIVITY, "")] * len(matches)
        parts = tagged_sections(doc)
        starts = [p.start for p in parts]
        out = []
        for start, _, _ in matches:
            at = bisect.bisect_right(starts, start) - 1
            if at < 0:
                out.append((ACTIVITY, ""))
                continue
            kind = parts[at].kind
            out.append((kind, self.sections.modifier_of(kind) or ""))
        return out

    def _cancelled(self, lowers: list[str], key: str, start: int) -> bool:
        """Whether the words right before a trigger cancel it (``not_after``)."""
        phrases = self._not_after.get(key)
        if not phrases:
            return False
        return any(
            n <= start and tuple(lowers[start - n : start]) in found for n, found in phrases.items()
        )

    def _context(
        self, doc: Doc, matches: list[tuple[int, int, str]], lowers: list[str], starts: list[bool]
    ) -> list[tuple[str, ...]]:
        """The names of the context modifiers whose scope covers each match."""
        none: list[tuple[str, ...]] = [()] * len(matches)
        if not matches:
            return none
        triggers = [
            (key, s, e)
            for key, s, e in ((doc.vocab.strings[k], s, e) for k, s, e in self.triggers(doc))
            if not self._cancelled(lowers, key, s)
        ]
        if not triggers:
            return none
        # Sentence bounds from the start flags, as ``Span.sent`` finds them: a match never
        # crosses a sentence, so its sentence runs from the last start at or before it to the
        # next start after it.
        bounds = [i for i, first in enumerate(starts) if first]
        bounds.append(len(starts))
        out = []
        for span_start, span_end, _ in matches:
            at = bisect.bisect_right(bounds, span_start) - 1
            sent_start, sent_end = bounds[at], bounds[at + 1]
            names: list[str] = []
            for key, t_start, t_end in triggers:
                name, direction, window, terms, joiners, inside = self._trigger_info[key]
                if name in names or t_start < sent_start or t_end > sent_end:
                    continue
                if inside and span_start < t_start and t_end <= span_end:
                    names.append(name)
                    continue
                if direction == "forward" and t_end <= span_start:
                    gap = lowers[t_end:span_start]
                elif direction == "backward" and t_start >= span_end:
                    gap = lowers[span_end:t_start]
                else:
                    continue
                if joiners and _in_list(lowers[t_end:sent_end], terms, joiners):
                    words = [w for w in gap if w != "," and w not in joiners]
                    if len(words) <= window and not any(w in terms for w in words):
                        names.append(name)
                elif len(gap) <= window and not any(w in terms for w in gap):
                    names.append(name)
            out.append(tuple(names))
        return out


def _longest_first(found: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spacy.util.filter_spans`` on ``(start, end)`` pairs, without a Span per candidate.

    Of overlapping matches the longest wins, the first of equally long ones.
    """
    ranked = sorted(found, key=lambda se: (se[1] - se[0], -se[0]), reverse=True)
    kept: list[tuple[int, int]] = []
    taken: set[int] = set()
    for start, end in ranked:
        if start not in taken and end - 1 not in taken:
            kept.append((start, end))
            taken.update(range(start, end))
    kept.sort()
    return kept


def _in_list(words: list[str], terms: frozenset[str], joiners: frozenset[str]) -> bool:
    """True when ``words`` open with a comma list closed by a joiner ("x, y, or z")."""
    seen_comma = False
    for word in words:
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
    nlp.tokenizer = ChunkPrimingTokenizer(tokenizer)
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


def counting_matches(doc: Doc) -> list[RuleMatch]:
    """The rule matches that count (see ``RuleMatch.counts``), in token order.

    The rule votes, the evidence and the activities all read them.
    """
    return [m for m in rule_matches(doc).values() if m.counts]


_STANDING_KEY = "notecheck_standing"


def switched_off(doc: Doc, catalog: RuleCatalog) -> dict[tuple[int, int, str], str]:
    """Active matches another standing match switches off ("unless"), with the rule that does.

    Keyed by ``(start, end, rule id)``; worked out once per Doc for the votes, the evidence and
    the activities. A rule with ``unless_scope = "sentence"`` looks only at its own sentence.
    """
    cached = doc.user_data.get(_STANDING_KEY)
    if cached is not None and cached[0] == catalog.sha256:
        return cached[1]
    counting = counting_matches(doc)
    found: dict[tuple[int, int, str], str] = {}
    if any(catalog.by_id[m.rule_id].unless for m in counting):
        sentence_of = list(itertools.accumulate(token_table(doc).sent_start))
        hits = [(m.rule_id, sentence_of[m.start]) for m in counting]
        keep = catalog.standing(hits)
        for match, (rule_id, sentence), kept in zip(counting, hits, keep, strict=True):
            if kept:
                continue
            rule = catalog.by_id[rule_id]
            present = {
                other
                for (other, at), on in zip(hits, keep, strict=True)
                if on and (rule.unless_scope != "sentence" or at == sentence)
            }
            found[match.key] = rule.unless_met(present) or "?"
    doc.user_data[_STANDING_KEY] = (catalog.sha256, found)
    return found


def active(span: Span) -> bool:
    """True when the span is in a counting section and no context modifier discounts its rule."""
    found = _match_of(span)
    return found is not None and found.counts


def section_rules_of(nlp: Language) -> SectionRules:
    """The section rules the pipeline's section component was built from."""
    if "notecheck_sections" not in nlp.pipe_names:
        from notecheck.sections import load_section_rules

        return load_section_rules()
    component = nlp.get_pipe("notecheck_sections")
    assert isinstance(component, SectionTagger)
    return component.rules
