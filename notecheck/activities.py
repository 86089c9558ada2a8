"""Activity segments and the note's time split: what was done, for how long, what is billable.

Only the note's ``activity`` sections describe what was done. Each of their sentences is one
segment, split again where the rule hits change kind ("drove 20 min to DHS, then advocated with
the caseworker" is two activities). A segment's kind is the billable label its active cues name,
``non-billable`` when only non-billable (or other-service) rules are active, or ``none`` when no
rule names an activity there.

The time split follows 000 Q38: bill only the intervention time. Minutes stated inside a
non-billable segment are non-billable; the rest of the stated total is billable only when every
non-billable activity states its minutes — otherwise the split is unknown, and we say so rather
than guess.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from spacy.tokens import Doc

from notecheck.catalog import RuleCatalog
from notecheck.labels import NON_BILLABLE
from notecheck.nlp import RuleMatch, TokenTable, counting_matches, switched_off, token_table
from notecheck.result import Activity as Segment
from notecheck.result import TimeBreakdown as TimeSplit
from notecheck.sections import ACTIVITY, SECTIONS_KEY, doc_text, tagged_sections
from notecheck.timeparse import NoteTime, TimeMention

UNIT_MINUTES = 15.0
HALF_UNIT_MINUTES = 7.5
NON_BILLABLE_KIND = "non-billable"
NO_KIND = "none"
# Rules that say how a contact ended (voicemail, no answer): the time is the failed contact's.
_OUTCOME_FAMILY = "contact."
# Tokens at which a sentence is split between two activities of different kinds.
_CLAUSE_BREAKS = frozenset({",", ";", "and", "then", "while", "after", "before", "-", "–", "—"})
# "and" before a noun phrase joins two objects of one verb ("faxed the ROI and the face sheet
# to the CILA"), not two activities; a verb soon after it ("and the SW planned") still cuts.
_NOUN_PHRASE_START = frozenset(
    {"the", "a", "an", "his", "her", "their", "its", "both", "all", "clt", "client", "pt"}
)


def billable_units(minutes: float) -> int:
    """15-minute units, rounding at the 7.5-minute half unit (000 Q38): 7.4 -> 0, 7.5 -> 1."""
    whole, rest = divmod(minutes, UNIT_MINUTES)
    return int(whole) + (1 if rest >= HALF_UNIT_MINUTES else 0)


def _hit_kind(rule_effect: str, label: str | None) -> str | None:
    if rule_effect == "billable-cue" and label:
        return label
    if rule_effect in ("non-billable", "other-service"):
        return NON_BILLABLE_KIND
    return None


def _activity_sentences(doc: Doc, toks: TokenTable) -> list[tuple[int, int]]:
    """Token ranges of the sentences in ``activity`` sections (a heading alone excluded)."""
    n = len(toks.lower)
    bounds = [i for i in range(n) if toks.sent_start[i]] + [n]
    if SECTIONS_KEY in doc.spans:
        sections = [
            (s.start, s.end, s.heading.lower()) for s in tagged_sections(doc) if s.kind == ACTIVITY
        ]
    else:
        sections = [(0, n, "")]
    out = []
    for sec_start, sec_end, heading in sections:
        at = max(bisect.bisect_right(bounds, sec_start) - 1, 0)
        while at < len(bounds) - 1 and bounds[at] < sec_end:
            start, end = max(bounds[at], sec_start), min(bounds[at + 1], sec_end)
            at += 1
            words = [toks.lower[i] for i in range(start, end) if not toks.skip[i]]
            if not words or (heading and " ".join(words) == heading):
                continue  # empty, or the heading on its own ("D:", "Intervention:")
            out.append((start, end))
    return out


_TIME_ONLY = re.compile(
    r"(?i)(?:\d+|[:.\-–—()~=/]|\s|\b(?:min(?:ute)?s?|hrs?|hours?|total|time|approx\w*|am|pm)\b)*"
)


def _only_time(text: str) -> bool:
    """A piece that only states time ("60 min", "Total: 45 min") is not an activity."""
    return bool(_TIME_ONLY.fullmatch(text))


def _clause_kind(hits: list[tuple[RuleMatch, str, bool]]) -> str | None:
    """The kind of a clause's first hit, passing over generic cues when a specific one follows."""
    specific = [k for _, k, generic in hits if not generic]
    if specific:
        return specific[0]
    return hits[0][1] if hits else None


def _clauses(
    sent: tuple[int, int], toks: TokenTable, hits: list[tuple[RuleMatch, str, bool]]
) -> list[tuple[int, int, str]]:
    """A sentence cut into activities: ``(start_token, end_token, kind)``.

    The sentence is cut at clause breaks (a comma, "then", "and" ...); a clause's kind is that
    of its first hit, since the first hit is the clause's verb ("transported clt to the SSA
    office" is transporting, not a visit to an agency) — unless that hit is a generic cue that
    names only the channel ("called the cardiology office to move the appt" is scheduling). A
    clause holding only generic cues takes the kind of the clause after it when a specific hit
    opens that one: "called Dr. Nwosu's office and rescheduled the appt", "called the landlord,
    left VM" are the scheduling and the voicemail. A clause with no hit joins the one before it
    (it says more about the same activity: "(20 min)"), and neighbours of one kind join into
    one activity.
    """
    lo_sent, hi_sent = sent
    kinds_seen = {kind for _, kind, _ in hits}
    if len(kinds_seen) <= 1:
        # One kind or none: however the sentence is cut, its clauses join into one.
        return [(lo_sent, hi_sent, kinds_seen.pop() if kinds_seen else NO_KIND)]
    cuts = [lo_sent]
    cuts += [
        i
        for i in range(lo_sent + 1, hi_sent)
        if toks.lower[i] in _CLAUSE_BREAKS and not _joins_objects(toks, i, hi_sent)
    ]
    cuts.append(hi_sent)
    pieces = [
        (lo, hi, [h for h in hits if lo <= h[0].start < hi])
        for lo, hi in zip(cuts, cuts[1:], strict=False)
        if lo < hi
    ]
    kinds = [_clause_kind(inside) for _, _, inside in pieces]
    for n in range(len(pieces) - 1):
        inside, after = pieces[n][2], pieces[n + 1][2]
        if inside and all(generic for _, _, generic in inside) and after and not after[0][2]:
            kinds[n] = after[0][1]
    clauses: list[list[Any]] = []
    for (lo, hi, _), first in zip(pieces, kinds, strict=True):
        if clauses and (first is None or first == clauses[-1][2] or clauses[-1][2] is None):
            clauses[-1][1] = hi
            if clauses[-1][2] is None:
                clauses[-1][2] = first
        else:
            clauses.append([lo, hi, first])
    return [(lo, hi, kind or NO_KIND) for lo, hi, kind in clauses]


def _joins_objects(toks: TokenTable, at: int, end: int) -> bool:
    """Whether the "and" at ``at`` joins two noun phrases rather than two clauses."""
    if toks.lower[at] != "and" or at + 1 >= end or toks.lower[at + 1] not in _NOUN_PHRASE_START:
        return False
    if toks.lower[at + 1] in ("clt", "client", "pt") and (
        at + 2 >= end or toks.lower[at + 2] != "'s"
    ):
        return False  # "and clt discussed ...": the client is a subject, not a possessive
    ahead = toks.lower[at + 2 : min(at + 5, end)]
    return not any(w.endswith("ed") or w in _CLAUSE_BREAKS for w in ahead)


@dataclass(frozen=True)
class _ClausePlan:
    """A parsed note's activity sentences, each cut into clauses of one kind."""

    toks: TokenTable
    sentences: list[tuple[int, int]]  # token ranges
    clauses: list[list[tuple[int, int, str]]]  # per sentence: (start_token, end_token, kind)
    hits: list[list[tuple[RuleMatch, str, bool]]]  # per sentence: (span, kind, generic), in order
    # Generic cues ("called the office") in a clause another rule says the purpose of.
    overshadowed: frozenset[tuple[int, int, str]]  # (start_token, end_token, rule id)


_PLAN_KEY = "notecheck_clauses"


def _clause_plan(doc: Doc, catalog: RuleCatalog) -> _ClausePlan:
    """The clauses of a parsed note, worked out once per Doc (votes, evidence and segments)."""
    cached = doc.user_data.get(_PLAN_KEY)
    if cached is not None and cached[0] == catalog.sha256:
        return cached[1]
    toks = token_table(doc)
    sentences = _activity_sentences(doc, toks)
    starts = [s[0] for s in sentences]
    hits_by_sent: dict[int, list[tuple[RuleMatch, str, bool]]] = {}
    off = switched_off(doc, catalog)
    for match in counting_matches(doc):
        rule = catalog.by_id[match.rule_id]
        kind = _hit_kind(rule.effect, rule.label)
        # A rule another active rule switches off ("unless") names no activity either.
        if kind is None or match.key in off:
            continue
        at = bisect.bisect_right(starts, match.start) - 1
        if at >= 0 and match.start < sentences[at][1]:
            hits_by_sent.setdefault(at, []).append((match, kind, rule.generic))
    hits = [
        sorted(hits_by_sent.get(n, []), key=lambda h: h[0].start) for n in range(len(sentences))
    ]
    clauses = [
        _clauses(sent, toks, sent_hits) for sent, sent_hits in zip(sentences, hits, strict=True)
    ]
    overshadowed = frozenset(
        match.key
        for sent_hits, sent_clauses in zip(hits, clauses, strict=True)
        for match, kind, generic in sent_hits
        if generic
        and any(
            lo <= match.start < hi and kind != clause_kind for lo, hi, clause_kind in sent_clauses
        )
    )
    plan = _ClausePlan(toks, sentences, clauses, hits, overshadowed)
    doc.user_data[_PLAN_KEY] = (catalog.sha256, plan)
    return plan


def overshadowed_cues(doc: Doc, catalog: RuleCatalog) -> frozenset[tuple[int, int, str]]:
    """Generic cues whose clause another rule names the purpose of: ``(start, end, rule id)``.

    "Called Dr. Nwosu's office and rescheduled the appt" is scheduling: the call is how it was
    done, not a billable contact of its own, so its cue neither votes nor shows as counted.
    """
    return _clause_plan(doc, catalog).overshadowed


def segments(
    doc: Doc, catalog: RuleCatalog, times: list[TimeMention], total: TimeMention | None
) -> list[Segment]:
    """The activity segments of a parsed note, with the minutes each one states."""
    plan = _clause_plan(doc, catalog)
    toks, sentences = plan.toks, plan.sentences
    text = doc_text(doc)
    times = _without_restated(times, [(toks.start[a], toks.end[b - 1]) for a, b in sentences])
    out: list[Segment] = []
    for sent, hits, clauses in zip(sentences, plan.hits, plan.clauses, strict=True):
        pieces: list[Segment] = []
        for lo, hi, kind in clauses:
            # Trim the clause-break word and punctuation a cut leaves at the edges.
            first, last = lo, hi - 1
            while first <= last and (toks.skip[first] or toks.lower[first] in _CLAUSE_BREAKS):
                first += 1
            while last >= first and toks.skip[last]:
                if toks.lower[last] == ")" and "(" in toks.lower[first:last]:
                    break  # keep "(20 min)" whole
                last -= 1
            if first > last:
                continue
            start_char, end_char = toks.start[first], toks.end[last]
            piece = text[start_char:end_char]
            if _only_time(piece) or not any(ch.isalnum() for ch in piece):
                continue  # a time alone, or the "|" between fields of a one-line export
            inside = [
                m.rule_id
                for m, _, _ in hits
                if lo <= m.start < hi and m.key not in plan.overshadowed
            ]
            lo_char, hi_char = toks.start[lo], toks.end[hi - 1]
            stated = _stated_minutes(times, total, lo_char, hi_char)
            pieces.append(
                Segment(
                    start=start_char,
                    end=end_char,
                    text=piece,
                    kind=kind,
                    rule_ids=tuple(dict.fromkeys(inside)),
                    minutes=stated,
                )
            )
        out.extend(_trailing_time_to_main(pieces, times, total, toks.end[sent[1] - 1]))
    return out


def _without_restated(
    times: list[TimeMention], sentences: list[tuple[int, int]]
) -> list[TimeMention]:
    """Drop a duration that restates a clock range of its sentence.

    "1:00-1:35 writer on phone w/ the SW: planned the d/c ..., and the post-placement visit
    (35 min)": the 35 minutes are the range's, said twice, not a second activity's.
    """
    restated = set()
    for lo, hi in sentences:
        inside = [m for m in times if lo <= m.start < hi]
        ranges = {m.minutes for m in inside if m.clock is not None}
        restated |= {id(m) for m in inside if m.clock is None and m.minutes in ranges}
    return [m for m in times if id(m) not in restated]


def _trailing_time_to_main(
    pieces: list[Segment], times: list[TimeMention], total: TimeMention | None, sent_end: int
) -> list[Segment]:
    """Give a sentence's closing time to the intervention the sentence reports.

    "Writer called the DDS adjudicator, explained the mail theft and requested that the exam
    be rescheduled (10:15-10:40)", "sat in the lobby and coached clt as she filled in the form
    (10:05-10:20)": a closing time covers the whole sentence, and when the sentence mixes an
    intervention with incidental non-billable words, the time is the intervention's, not the
    last clause's that happens to hold the parenthesis. Only when no other clause states
    minutes of its own.
    """
    timed = [i for i, p in enumerate(pieces) if p.minutes is not None]
    if len(pieces) < 2 or timed != [len(pieces) - 1]:
        return pieces
    last = pieces[-1]
    inside = [m for m in times if m is not total and last.start <= m.start < sent_end + 1]
    # The time must close the sentence: nothing but punctuation (or the same time restated,
    # "9:10-9:45 (35 min)") after it.
    if not inside or not _only_time(last.text[max(m.end for m in inside) - last.start :]):
        return pieces
    if last.kind not in (NON_BILLABLE_KIND, NO_KIND) or any(
        r.startswith(_OUTCOME_FAMILY) for r in last.rule_ids
    ):
        # "called the landlord and left a VM (2 min)": a failed contact is what the call was.
        return pieces
    main = next(
        (i for i, p in enumerate(pieces) if p.kind not in (NON_BILLABLE_KIND, NO_KIND)), None
    )
    if main is None:
        return pieces
    # "called IDHS to confirm the due date, waited on hold 10 min (1:50-2:05)": a duration of
    # the last clause's own stays with it; the rest of the closing time is the intervention's.
    assert last.minutes is not None
    own = sum(m.minutes for m in inside if m.clock is None and m.minutes < last.minutes)
    moved = list(pieces)
    if 0 < own < last.minutes:
        moved[main] = replace(pieces[main], minutes=last.minutes - own)
        moved[-1] = replace(last, minutes=own)
    else:
        moved[main] = replace(pieces[main], minutes=last.minutes)
        moved[-1] = replace(last, minutes=None)
    return moved


def _stated_minutes(
    times: list[TimeMention], total: TimeMention | None, lo: int, hi: int
) -> float | None:
    """Minutes a piece of text states: its clock ranges, else its durations.

    "9:00-9:30 drove to the CILA (30 min)" states 30 minutes twice; ranges win.
    """
    inside = [m for m in times if m is not total and lo <= m.start < hi]
    ranges = [m.minutes for m in inside if m.clock is not None]
    durations = [m.minutes for m in inside if m.clock is None]
    if ranges:
        return float(sum(ranges))
    return float(sum(durations)) if durations else None


def _fmt(minutes: float) -> str:
    return f"{minutes:g}"


def time_split(
    label: str,
    activities: list[Segment],
    note_time: NoteTime,
    billed_minutes: float | None,
    units: Callable[[float], int] = billable_units,
    non_billable_label: str = NON_BILLABLE,
    per_contact: bool = False,
    clocks: Sequence[tuple[int, int] | None] = (),
) -> TimeSplit:
    """Split the note's minutes (000 Q38) and count the units it supports and puts at risk.

    ``units`` turns minutes into units (the profile's unit policy; Illinois by default).
    ``per_contact``: separate contacts are counted each on its own, as Illinois claims are
    (000 Q54: three 5-minute contacts are not one unit). Contacts are separate when every
    billable activity states a clock range (``clocks``, per activity), the ranges leave gaps
    between them, and together they are all the billable minutes; parts of one sitting, or
    minutes without clock times, are counted together.
    """
    timed_all = all(a.minutes is not None for a in activities if a.kind != NO_KIND)
    total: float | None
    if note_time.total is not None and note_time.total_mention is not None:
        total = note_time.total
        source = (
            "note: start/stop"
            if note_time.total_mention.clock is not None
            else "note: stated total"
        )
    elif billed_minutes is not None:
        total, source = billed_minutes, "billed"
    elif note_time.total is not None and timed_all:
        # No total is stated, but every activity states its minutes: they add up.
        total, source = note_time.total, "note: sum of parts"
    else:
        total, source = None, "none"
    if billed_minutes is not None:
        units_billed: int | None = units(billed_minutes)
        basis = "billed minutes"
    elif total is not None:
        units_billed, basis = units(total), "note total"
    else:
        units_billed, basis = None, "none"

    non_billable = [a for a in activities if a.kind == NON_BILLABLE_KIND]
    billable = [a for a in activities if a.kind not in (NON_BILLABLE_KIND, NO_KIND)]
    nb_stated = float(sum(a.minutes for a in non_billable if a.minutes is not None))
    nb_untimed = [a for a in non_billable if a.minutes is None]
    b_stated = float(sum(a.minutes for a in billable if a.minutes is not None))

    billable_minutes: float | None
    unallocated: float | None
    if label == non_billable_label:
        billable_minutes, unallocated = 0.0, 0.0
        nb_minutes: float | None = total if total is not None else (nb_stated or None)
        split = "non-billable note"
        why = "The note supports no billable service, so none of its time is billable."
    elif total is None:
        billable_minutes = b_stated or None
        nb_minutes = nb_stated if non_billable else 0.0
        unallocated, split = None, "no time"
        why = "The note states no time, so the billable minutes cannot be counted."
    elif not non_billable:
        billable_minutes, nb_minutes, unallocated = total, 0.0, 0.0
        split = "not needed"
        why = (
            f"No non-billable activity was found; all {_fmt(total)} minutes are intervention time."
        )
    elif not nb_untimed:
        billable_minutes = max(total - nb_stated, 0.0)
        nb_minutes, unallocated, split = nb_stated, 0.0, "stated"
        why = (
            f"{_fmt(nb_stated)} of {_fmt(total)} minutes are non-billable activity "
            f"(000 Q38); {_fmt(billable_minutes)} minutes remain for the intervention."
        )
    else:
        nb_minutes = nb_stated
        # Never more than the total leaves after the non-billable minutes that are stated.
        billable_minutes = min(b_stated, max(total - nb_stated, 0.0)) if b_stated else None
        unallocated = max(total - nb_stated - b_stated, 0.0)
        split = "unknown"
        names = ", ".join(dict.fromkeys(r for a in nb_untimed for r in a.rule_ids))
        why = (
            f"The note states {_fmt(total)} minutes but not how many went to the non-billable "
            f"activity ({names})"
            + (f"; {_fmt(unallocated)} minutes are unallocated" if unallocated else "")
            + ". State the time of each activity, or bill only the intervention time (000 Q38)."
        )
    units_supported = None if billable_minutes is None else units(billable_minutes)
    if per_contact and billable_minutes is not None and len(billable) > 1 and clocks:
        ranges = sorted(
            (
                (clock, a.minutes)
                for a, clock in zip(activities, clocks, strict=True)
                if a.kind not in (NON_BILLABLE_KIND, NO_KIND) and clock is not None
            ),
            key=lambda r: r[0],  # by clock only: minutes may be None ("11:00-11:40" twice)
        )
        separate = len(ranges) == len(billable) and all(
            later[0][0] > earlier[0][1] for earlier, later in itertools.pairwise(ranges)
        )
        stated_minutes = [m for _, m in ranges if m is not None]
        if (
            separate
            and len(stated_minutes) == len(ranges)
            and abs(sum(stated_minutes) - billable_minutes) < 0.01
        ):
            units_supported = sum(units(m) for m in stated_minutes)
    if label == non_billable_label:
        units_supported = 0
    at_risk = (
        max(units_billed - units_supported, 0)
        if units_billed is not None and units_supported is not None
        else None
    )
    return TimeSplit(
        total_minutes=total,
        billable_minutes=billable_minutes,
        non_billable_minutes=nb_minutes,
        unallocated_minutes=unallocated,
        units_supported=units_supported,
        units_billed=units_billed,
        units_at_risk=at_risk,
        total_source=source,
        billed_basis=basis,
        split=split,
        explanation=why,
    )
