"""Sections of a progress note (DAP, SOAP, BIRP, GIRP, PIE, field exports, print-outs).

The section rules are data (``rules/sections.toml``): heading names per section kind, header
lines, and format-dependent headings. ``find_sections`` is a pure function over the text that
returns contiguous character ranges covering the whole note; the spaCy component puts them on
the Doc as ``doc.spans["sections"]`` (``span.label_`` is the kind) so rule matches can be
discounted by where they occur.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from notecheck.casefree import CaseFreePattern
from notecheck.catalog import CatalogError, read_toml
from notecheck.component import BatchedComponent

SECTIONS_KEY = "sections"
_TEXT_KEY = "notecheck_text"
_RECORDS_KEY = "notecheck_sections"
ACTIVITY = "activity"
SCOPES = ("block", "line", "rest", "sentence")
_SEPARATOR = r"[ \t]*(?::|[-–—](?=[ \t])|[–—])"
# The end of a goal statement: a line break, or a sentence end followed by a capital letter
# ("Obj 2.1. Clt ..." ends at "2.1." only when what follows starts a new sentence).
_SENTENCE_END = re.compile(r"\n|(?<![0-9])[.!?](?=[ \t]+[A-Z])[ \t]*")


@dataclass(frozen=True)
class SectionKind:
    """A kind of section and, when it does not count, the modifier that discounts matches."""

    name: str
    counts: bool
    title: str
    modifier: str | None = None
    explanation: str = ""
    # Whether the model reads the section's text (the client's response tells the model what
    # kind of session it was, though a rule match there is no activity of staff's).
    model_reads: bool = True


@dataclass(frozen=True)
class SectionPart:
    """One part of a note: ``text[start:end]``; its heading ends at ``body_start``."""

    start: int
    end: int
    kind: str
    heading: str | None
    body_start: int


@dataclass(frozen=True)
class SectionRules:
    """The compiled section rules."""

    version: str
    kinds: dict[str, SectionKind]
    headings: dict[str, tuple[str, str]]  # lower-cased name -> (kind, scope)
    format_kinds: tuple[tuple[str, frozenset[str], dict[str, str]], ...]
    line_patterns: tuple[tuple[re.Pattern[str], str], ...]
    content_kinds: tuple[tuple[frozenset[str], re.Pattern[str], str], ...]
    heading_re: CaseFreePattern
    sha256: str = ""

    @property
    def modifiers(self) -> dict[str, SectionKind]:
        """Discounting modifier name -> the section kind it stands for."""
        return {k.modifier: k for k in self.kinds.values() if k.modifier}

    def modifier_of(self, kind: str) -> str | None:
        """The modifier that discounts rule matches in sections of ``kind`` (None: it counts)."""
        return self.kinds[kind].modifier


def _strict(table: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise CatalogError(f"{where}: expected a table")
    unknown = set(table) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}")
    return table


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise CatalogError(f"{where}: expected a non-empty list of strings")
    return [v.lower() for v in value]


def parse_section_rules(raw: dict[str, Any], digest: str = "") -> SectionRules:
    """Validate the raw TOML data and compile it."""
    _strict(raw, {"version", "kinds", "headings", "lines", "formats", "content_kinds"}, "sections")
    kinds: dict[str, SectionKind] = {}
    for item in raw.get("kinds", []):
        _strict(
            item,
            {"name", "counts", "modifier", "title", "explanation", "model_reads"},
            "sections.kinds",
        )
        name, counts = item.get("name"), item.get("counts")
        if not isinstance(name, str) or not isinstance(counts, bool):
            raise CatalogError("sections.kinds: each kind needs a name and counts = true/false")
        modifier = item.get("modifier")
        if counts == (modifier is not None):
            raise CatalogError(
                f"section kind {name!r}: a modifier is required iff it does not count"
            )
        model_reads = item.get("model_reads", counts)
        if not isinstance(model_reads, bool):
            raise CatalogError(f"section kind {name!r}: model_reads must be true or false")
        kinds[name] = SectionKind(
            name,
            counts,
            str(item.get("title", name)),
            modifier,
            str(item.get("explanation", "")),
            model_reads,
        )
    if ACTIVITY not in kinds or not kinds[ACTIVITY].counts:
        raise CatalogError("sections: the 'activity' kind must exist and count")
    headings: dict[str, tuple[str, str]] = {}
    for item in raw.get("headings", []):
        _strict(item, {"kind", "scope", "names"}, "sections.headings")
        kind, scope = item.get("kind"), item.get("scope", "block")
        if kind not in kinds or scope not in SCOPES:
            raise CatalogError(f"sections.headings: unknown kind {kind!r} or scope {scope!r}")
        for name in _names(item.get("names"), f"headings[{kind}]"):
            if name in headings:
                raise CatalogError(f"sections: heading {name!r} is declared twice")
            headings[name] = (kind, scope)
    formats = []
    for item in raw.get("formats", []):
        _strict(item, {"name", "when_headings", "kinds"}, "sections.formats")
        overrides = item.get("kinds")
        if not isinstance(overrides, dict) or not all(v in kinds for v in overrides.values()):
            raise CatalogError(f"format {item.get('name')!r}: kinds must map headings to kinds")
        when = frozenset(_names(item.get("when_headings"), f"format {item.get('name')!r}"))
        formats.append((str(item.get("name")), when, {k.lower(): v for k, v in overrides.items()}))
    lines = []
    for item in raw.get("lines", []):
        _strict(item, {"kind", "patterns"}, "sections.lines")
        if item.get("kind") not in kinds:
            raise CatalogError(f"sections.lines: unknown kind {item.get('kind')!r}")
        for pattern in item.get("patterns", []):
            try:
                lines.append((re.compile(pattern, re.MULTILINE), item["kind"]))
            except re.error as exc:
                raise CatalogError(f"sections.lines: bad pattern {pattern!r}: {exc}") from exc
    content = []
    for item in raw.get("content_kinds", []):
        _strict(item, {"headings", "kind", "pattern"}, "sections.content_kinds")
        if item.get("kind") not in kinds:
            raise CatalogError(f"sections.content_kinds: unknown kind {item.get('kind')!r}")
        try:
            compiled = re.compile(str(item.get("pattern")))
        except re.error as exc:
            raise CatalogError(f"sections.content_kinds: bad pattern: {exc}") from exc
        names = frozenset(_names(item.get("headings"), "content_kinds.headings"))
        content.append((names, compiled, str(item["kind"])))
    every = set(headings) | {name for _, _, o in formats for name in o}
    alternation = "|".join(re.escape(n) for n in sorted(every, key=len, reverse=True))
    heading_re = CaseFreePattern(
        # Every branch below follows the text's start or one of these characters: one test
        # first lets the scan turn down most positions (same matches, about twice as fast).
        r"(?<![^\n|;.!?\"”’')\]])"
        # at a line start (after an optional bullet), after a sentence end or after the "|" of a
        # one-line field export ("Service: CM | Narrative: ..."), then a separator, or a heading
        # alone on its line
        rf"(?:(?:^|(?<=\n))[ \t]*(?:[-*•#>]+[ \t]*)?|(?<=[|;])[ \t]*"
        rf"|(?:(?<=[.!?])|(?<=[.!?][\"”’')\]]))[ \t]+)"
        rf"(?P<name>{alternation})"
        # a number or a short qualifier may sit between a heading and its separator: "Goal 2:",
        # "Obj #1.3 -", "ITP Goal (from transition plan):", "Plan (next 30 days):"
        rf"(?:(?:[ \t]+#?[0-9]+(?:\.[0-9]+)*[a-z]?)?(?:[ \t]*\([^()\n]{{1,40}}\))?"
        rf"(?P<sep>{_SEPARATOR})[ \t]*"
        rf"|(?<=\bby)[ \t]+|[ \t]*(?=\r?\n|$))",
    )
    return SectionRules(
        version=str(raw.get("version", "")),
        kinds=kinds,
        headings=headings,
        format_kinds=tuple(formats),
        line_patterns=tuple(lines),
        content_kinds=tuple(content),
        heading_re=heading_re,
        sha256=digest,
    )


def load_section_rules(path: str | Path | None = None) -> SectionRules:
    """Load and validate ``rules/sections.toml`` (or ``path``)."""
    import hashlib

    raw, data = read_toml(path, "sections.toml")
    return parse_section_rules(raw, hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class _Heading:
    start: int  # where the heading word starts
    body_start: int  # where the section's text starts
    name: str
    line_end: int


def _headings(text: str, rules: SectionRules) -> list[_Heading]:
    found = []
    for match in rules.heading_re.finditer(text):
        name = text[match.start("name") : match.end("name")]  # as written: "D:" is not "d:"
        # One-letter headings ("D:", "P -") only in upper case and with a separator.
        if len(name) == 1 and (not name.isupper() or not match["sep"]):
            continue
        # A heading alone on its line must not be a word that starts a sentence ("Plan" alone).
        if not match["sep"] and len(name) <= 2 and not name.lower().endswith("by"):
            continue
        line_end = text.find("\n", match.end())
        found.append(
            _Heading(
                match.start("name"),
                match.end(),
                name.lower(),
                len(text) if line_end == -1 else line_end,
            )
        )
    return found


def find_sections(text: str, rules: SectionRules) -> list[SectionPart]:
    """Split ``text`` into contiguous parts, each with its section kind."""
    headings = _headings(text, rules)
    names = {h.name for h in headings}
    overrides: dict[str, str] = {}
    for _, when, kinds in rules.format_kinds:
        if names & when:
            overrides.update(kinds)
    marks: list[tuple[int, int, str, str | None, str]] = []  # start, body, kind, heading, scope
    for h in headings:
        if h.name in overrides:
            kind, scope = overrides[h.name], rules.headings.get(h.name, (ACTIVITY, "block"))[1]
        elif h.name in rules.headings:
            kind, scope = rules.headings[h.name]
        else:
            continue  # a format-only heading ("O:") outside its format
        marks.append((h.start, h.body_start, kind, h.name, scope))
    for pattern, kind in rules.line_patterns:
        for match in pattern.finditer(text):
            if match.group().strip():
                marks.append((match.start(), match.start(), kind, None, "line"))
    marks.sort(key=lambda m: (m[0], m[1]))
    parts: list[SectionPart] = []
    cursor = 0

    def close(end: int) -> None:
        # Unlabelled text between sections is narrative: what was done.
        nonlocal cursor
        if end > cursor:
            parts.append(SectionPart(cursor, end, ACTIVITY, None, cursor))
            cursor = end

    i = 0
    while i < len(marks):
        start, body, kind, heading, scope = marks[i]
        if start < cursor:  # inside a line or rest scope already taken
            i += 1
            continue
        close(start)
        nxt = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        if scope == "rest":
            end = len(text)
        elif scope == "line":
            line_end = text.find("\n", body)
            end = min(nxt, len(text) if line_end == -1 else line_end + 1)
        elif scope == "sentence":
            # A goal is one statement: "Objective: clt will budget. Member and CM went over
            # her bills" goes on with what was done.
            stop = _SENTENCE_END.search(text, body, nxt)
            end = stop.end() if stop else nxt
        else:
            end = nxt
            if kind != ACTIVITY and not rules.kinds[kind].counts:
                # A blank line followed by unlabelled text ends a goal/plan/assessment block.
                blank = re.search(r"\n[ \t]*\n(?=[ \t]*\S)", text[body:end])
                if blank:
                    end = body + blank.end()
        end = max(end, body)
        for shown, pattern, content_kind in rules.content_kinds:
            if heading in shown and pattern.match(text, body, end):
                kind = content_kind
        parts.extend(_staff_reports(SectionPart(start, end, kind, heading, body), text, rules))
        cursor = end
        i += 1
    close(len(text))
    return _merge(parts)


def _staff_reports(part: SectionPart, text: str, rules: SectionRules) -> list[SectionPart]:
    """Cut out the sentences of a section that report what staff did.

    "B: Clt has hx of stopping meds. CSW drove clt to the clinic 9:15-9:40 and waited w/ her":
    the second sentence is an activity whatever the heading, while the first stays the
    client's presentation. A section that opens with such a sentence is already an activity.
    """
    for shown, pattern, content_kind in rules.content_kinds:
        if part.heading not in shown or part.kind == content_kind:
            continue
        starts = [part.body_start]
        starts += [m.end() for m in _SENTENCE_END.finditer(text, part.body_start, part.end)]
        starts = sorted(set(s for s in starts if s < part.end)) + [part.end]
        out: list[SectionPart] = []
        cursor = part.start
        for lo, hi in zip(starts, starts[1:], strict=False):
            if not pattern.match(text, lo, hi):
                continue
            if out and out[-1].end == lo and out[-1].kind == content_kind:
                last = out[-1]
                out[-1] = SectionPart(last.start, hi, content_kind, "", last.body_start)
                cursor = hi
                continue
            if lo > cursor:
                out.append(SectionPart(cursor, lo, part.kind, part.heading, part.body_start))
            out.append(SectionPart(lo, hi, content_kind, "", lo))
            cursor = hi
        if not out:
            continue
        if cursor < part.end:
            out.append(SectionPart(cursor, part.end, part.kind, "", cursor))
        return out
    return [part]


def _merge(parts: list[SectionPart]) -> list[SectionPart]:
    """Join neighbouring unlabelled parts of one kind; drop whitespace-only gaps' identity."""
    merged: list[SectionPart] = []
    for part in parts:
        if (
            merged
            and part.heading is None
            and merged[-1].kind == part.kind
            and part.kind == ACTIVITY
        ):
            last = merged[-1]
            merged[-1] = SectionPart(last.start, part.end, last.kind, last.heading, last.body_start)
        else:
            merged.append(part)
    return merged


def remember_text(doc: Doc, text: str) -> Doc:
    """Keep the text a Doc was made from, so the pipeline never rebuilds it from tokens."""
    doc.user_data[_TEXT_KEY] = text
    return doc


def doc_text(doc: Doc) -> str:
    """The Doc's text, kept by the section tagger (``Doc.text`` rebuilds it token by token)."""
    text = doc.user_data.get(_TEXT_KEY)
    if not isinstance(text, str):
        text = doc.text
        doc.user_data[_TEXT_KEY] = text
    return text


@dataclass(frozen=True)
class TaggedSection:
    """A tagged section as plain values: token and character bounds, kind and heading."""

    start: int
    end: int
    start_char: int
    end_char: int
    kind: str
    heading: str  # "" when the section has no heading


def tagged_sections(doc: Doc) -> tuple[TaggedSection, ...]:
    """The Doc's sections, read from ``doc.spans`` once (iterating a SpanGroup builds Spans)."""
    cached = doc.user_data.get(_RECORDS_KEY)
    if cached is None:
        spans = doc.spans[SECTIONS_KEY] if SECTIONS_KEY in doc.spans else ()
        cached = tuple(
            TaggedSection(s.start, s.end, s.start_char, s.end_char, str(s.label_), str(s.id_))
            for s in spans
        )
        doc.user_data[_RECORDS_KEY] = cached
    return cached


def section_spans(doc: Doc, parts: list[SectionPart]) -> list[Span]:
    """The parts as token spans (``label_`` = kind, ``id_`` = heading); empty parts dropped."""
    spans: list[Span] = []
    text = doc_text(doc)
    for part in parts:
        span = doc.char_span(part.start, part.end, label=part.kind, alignment_mode="expand")
        if span is None or not text[span.start_char : span.end_char].strip():
            continue
        if spans and span.start < spans[-1].end:
            if span.end <= spans[-1].end:
                continue
            span = Span(doc, spans[-1].end, span.end, label=part.kind)
        spans.append(Span(doc, span.start, span.end, label=part.kind, span_id=part.heading or ""))
    return spans


class SectionTagger(BatchedComponent):
    """spaCy component: ``doc.spans['sections']`` and a sentence start at every section."""

    def __init__(self, rules: SectionRules) -> None:
        self.rules = rules

    def __call__(self, doc: Doc) -> Doc:
        """Tag the sections of ``doc``."""
        parts = find_sections(doc_text(doc), self.rules)
        spans = section_spans(doc, parts)
        starts = {span.start for span in spans}
        for part in parts:
            if part.heading is not None and part.body_start < part.end:
                # The text after a heading starts a sentence of its own.
                body = doc.char_span(part.body_start, part.end, alignment_mode="contract")
                if body is not None and len(body):
                    starts.add(body.start)
        for i in starts:
            # Setting is_sent_start makes spaCy scan the whole Doc for a parse: only where the
            # token does not start a sentence already.
            if doc[i].is_sent_start is not True:
                doc[i].is_sent_start = True
        doc.spans[SECTIONS_KEY] = spans
        doc.user_data.pop(_RECORDS_KEY, None)
        return doc


@Language.factory("notecheck_sections", default_config={"sections_path": None})
def make_section_tagger(nlp: Language, name: str, sections_path: str | None) -> SectionTagger:
    """SpaCy factory for the section component; the section rules are loaded here."""
    return SectionTagger(load_section_rules(sections_path))


def section_of(doc: Doc, token_index: int) -> str:
    """The kind of the section that holds token ``token_index`` (activity when untagged)."""
    for section in tagged_sections(doc):
        if section.start <= token_index < section.end:
            return section.kind
    return ACTIVITY
