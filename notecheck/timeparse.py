"""Service time stated in a note: clock ranges, durations and labelled totals.

A small parser with one job: find the minutes a note states, and only those. What looks like
time but is not service time is skipped: deadlines and frequencies ("within 24 hrs of d/c",
"every 2 hours", "3x/week for 45 min each"), authorisations ("60 units approved"), names
("Dr. Amin") and the past or future ("2 hours ago", "in 30 min"). A stated total wins over the
parts it sums ("8 min + 9 min. Total 17 min." is 17 minutes, not 34).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from notecheck.casefree import CaseFreePattern, case_folded

MAX_MINUTES = 24 * 60

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
}
# A digit may touch its unit ("30min"); a word needs a space or hyphen ("Dr. Amin" is a name).
_NUM = (
    r"(?:\d+(?:\.\d+)?(?:\s*|-)|(?:"
    + "|".join(re.escape(w) for w in sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r")(?:\s+|-))"
)
_HOUR_UNIT = r"(?:hours?|hrs?|h)"
_MIN_UNIT = r"(?:minutes?|mins?|m)"
_MERIDIEM = r"(?:a\.?m\.?|p\.?m\.?)"
# "10:10a-10:35a": a bare a/p only when it is attached to the digits.
_CLOCK_MERIDIEM = rf"(?:{_MERIDIEM}|(?<=\d)[ap](?![a-z]))"
# The patterns searched at every position open with a lookahead for the characters a match can
# start with (a digit, the first letters of the alternatives): the scan then turns down most
# positions with one test instead of a lookbehind and every alternative (same matches, two to
# three times faster).
_DURATION_FIRST = "".join(sorted({word[0] for word in _NUMBER_WORDS} | {"h"}))  # h: "half"

# "1 hr 15 min", "1h15m", "1.5 hrs", "an hour and a half", "half an hour", "90 min", "45m"
_DURATION_RE = CaseFreePattern(
    rf"(?=[\d{_DURATION_FIRST}])(?<![\w.:/-])(?:"
    rf"(?P<half>half\s+an?\s+hour|a\s+half\s+hour|half-hour)"
    rf"|(?P<hours>{_NUM})(?P<hunit>{_HOUR_UNIT})(?P<andhalf>\s+and\s+a\s+half)?"
    rf"(?:\s*(?:and\s+)?(?P<hmins>\d{{1,2}})\s*{_MIN_UNIT})?"
    rf"|(?P<mins>{_NUM})(?P<munit>{_MIN_UNIT})"
    rf")(?![\w])",
)
# A clock time on each side: "9:00-10:15", "9:45pm - 12:15am", "10-11am", "1:30 to 2:15 PM"
_RANGE_RE = re.compile(
    r"(?=\d)(?<![\d:./])"
    rf"(?P<ah>\d{{1,2}})(?::(?P<amin>[0-5]\d))?(?:\s*(?P<amer>{_CLOCK_MERIDIEM}))?"
    r"\s*(?:-|–|—|to|until|till|thru)\s*"
    rf"(?P<bh>\d{{1,2}})(?::(?P<bmin>[0-5]\d))?(?:\s*(?P<bmer>{_CLOCK_MERIDIEM}))?"
    r"(?!\d|:\d)",  # a colon may follow: "met w/ SW 9:45-10:25: reviewed ..."
    re.IGNORECASE,
)
# A 24-hour clock without a colon on each side: "0915-0940", "(1300-1345)", "1310-1345 hrs".
_MILITARY_RE = re.compile(
    r"(?=\d{4})(?<![\w:./$#-])(?P<ah>[01]\d|2[0-3])(?P<amin>[0-5]\d)\s*(?:-|–|—|to)\s*"
    r"(?P<bh>[01]\d|2[0-3])(?P<bmin>[0-5]\d)(?:\s*hrs?\b)?(?![\w:/-]|\.\d)"
)
# "(0:20)", "0:45 hrs": an hour-and-minute duration under an hour (no clock reads "0:20").
_ZERO_HOUR_RE = re.compile(
    r"(?=0:)(?<![\w:./-])0:(?P<m>[0-5]\d)(?:\s*(?:hrs?|h)\b)?(?![\d:]|\s*[ap]\.?m\b)"
)
# Start/end given as separate fields: "Start Time: 9:00 AM ... End Time: 10:15 AM", and in
# exports without the colon, "Start 16:00    End 17:25", "Time in 1:05p Time out 1:50p".
_FIELD_RE = CaseFreePattern(
    r"(?=[best])\b(?P<which>start(?:\s+time)?|time\s+in|begin(?:\s+time)?|end(?:\s+time)?"
    r"|stop(?:\s+time)?|time\s+out)\s*(?P<sep>[:=-])?\s*"
    rf"(?P<h>\d{{1,2}})(?::?(?P<m>[0-5]\d))?\s*(?P<mer>{_CLOCK_MERIDIEM})?(?![\d:])",
)
# A bare number under a minutes label, as templated exports write it: "Dur: 30",
# "Duration: 45", "Minutes: 40", "Total minutes = 40" (no unit after it, or "min").
_LABELLED_MINUTES_RE = CaseFreePattern(
    r"(?=[dmt])\b(?:dur|duration|minutes|mins|total\s+(?:minutes|mins|time))\s*[:=]\s*"
    r"(?P<n>\d{1,4})(?!\d|[:/.,-]\d|\s*(?:hrs?|hours?|units?|x|%|am|pm|a\.m|p\.m)\b)",
)
# Words just before a duration that make it a total of the contact.
_TOTAL_BEFORE = re.compile(
    r"(?:\btotal(?:\s+(?:service\s+)?time)?|\bduration|\btime\s+spent|\bservice\s+time"
    r"|\btotal\s+minutes|\blength(?:\s+of\s+(?:contact|session|visit))?)"
    r"\s*(?:of|was|is|=|:|-|–)?\s*(?:approx(?:imately|\.)?\s*|about\s*|~\s*)?$",
    re.IGNORECASE,
)
# Words just before a duration that make it a deadline, a frequency or a span that is not time
# spent: "within 24 hrs", "every 2 hours", "q4h", "for the past 3 hours", "in 30 min".
_NOT_SERVICE_BEFORE = re.compile(
    r"(?=[abeilnpqtuwx/])"
    r"(?:\bwithin|\bevery|\beach|\bper|\bq|\bupto|\bup\s+to|\bnext|\blast|\bpast|\bin|\bafter"
    r"|\bbefore|\bprior\s+to|\blate\s+by|\bx\s*/\s*(?:week|wk|day|month)\s+for|/\s*(?:week|wk|day)\s+for"
    r"|\btimes\s+(?:a|per)\s+(?:week|day)\s+for|\bx\s*\d+\s+for)\s*$",
    re.IGNORECASE,
)
_NOT_SERVICE_AFTER = re.compile(
    r"^\s*(?:each|apiece|ago|later|early|late|away|drive\s+away|of\s+(?:d/c|discharge|release|"
    r"admission|intake|the\s+(?:call|referral|request))|before|after|prior|per\s+(?:week|day|"
    r"month|session)|a\s+(?:week|day|month)|/\s*(?:week|wk|day|mo)|weekly|daily|monthly|"
    r"notice|window|response|turnaround|hold)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TimeMention:
    """Minutes stated in the text at ``[start, end)``; ``kind`` is range, duration or total."""

    start: int
    end: int
    minutes: float
    kind: str
    clock: tuple[int, int] | None = None  # minutes after midnight, for clock ranges


def _value(raw: str) -> float:
    raw = raw.strip(" \t\n-").casefold()  # the pattern is case-free: "ſix" matches "six"
    return float(_NUMBER_WORDS[raw]) if raw in _NUMBER_WORDS else float(raw)


def _clock(hour: str, minute: str | None, meridiem: str | None) -> int | None:
    h, m = int(hour), int(minute or 0)
    if h > 23:
        return None
    if meridiem:
        if h > 12 or h == 0:
            return None
        h = h % 12 + (12 if meridiem.lower().startswith("p") else 0)
    return h * 60 + m


def _range_minutes(
    a: tuple[str, str | None, str | None], b: tuple[str, str | None, str | None]
) -> tuple[int, int] | None:
    (ah, amin, amer), (bh, bmin, bmer) = a, b
    start = _clock(ah, amin, amer or bmer)
    end = _clock(bh, bmin, bmer)
    if start is None or end is None:
        return None
    if amer is None and bmer is not None and start > end and start - 720 < end:
        start -= 720  # "11:30-12:15pm": late morning
    if end <= start:
        if amer and bmer and amer[0].lower() == "p" and bmer[0].lower() == "a":
            end += 1440  # "9:45pm-12:15am": across midnight
        elif bmer is None and end + 720 > start:
            end += 720  # "1:30-2:15" with no am/pm, or "11:30-1:15": same stretch of the day
        else:
            end += 1440
    duration = end - start
    return (start, end) if 0 < duration <= 720 else None


# "pushed his appt from 2:00 to 2:30", "rescheduled the intake from 10:00 to 11:00": the old
# and the new time of an appointment, not a span of service.
_APPOINTMENT_MOVE = re.compile(
    r"(?i)\b(?:appt|appointment|intake|visit|session|resched\w*|push\w*|mov(?:e|ed|ing)"
    r"|chang\w*|switch\w*)\b[^.\n]{0,30}\bfrom\s*$"
)


def find_ranges(text: str) -> list[TimeMention]:
    """Clock ranges ("9:00-10:15", "9:45pm-12:15am", "10-11am", "0915-0940") as minutes."""
    found = []
    for match in _RANGE_RE.finditer(text):
        a_colon, b_colon = match["amin"] is not None, match["bmin"] is not None
        a_mer, b_mer = match["amer"], match["bmer"]
        # "3-4 times", "2-3 weeks" are not clock times: need minutes or am/pm on each side, or
        # "10-11am" (a bare hour before a side with am/pm).
        if not ((a_colon or a_mer or b_mer) and (b_colon or b_mer)):
            continue
        if _APPOINTMENT_MOVE.search(text[max(0, match.start() - 50) : match.start()]):
            continue
        clock = _range_minutes(
            (match["ah"], match["amin"], a_mer), (match["bh"], match["bmin"], b_mer)
        )
        if clock is not None:
            found.append(
                TimeMention(match.start(), match.end(), float(clock[1] - clock[0]), "range", clock)
            )
    for match in _MILITARY_RE.finditer(text):
        first, second = int(match["ah"] + match["amin"]), int(match["bh"] + match["bmin"])
        if 1950 <= first < second <= 2099 and second - first <= 5:
            continue  # "2023-2024": years
        if _APPOINTMENT_MOVE.search(text[max(0, match.start() - 50) : match.start()]):
            continue
        start = int(match["ah"]) * 60 + int(match["amin"])
        end = int(match["bh"]) * 60 + int(match["bmin"])
        if end <= start:
            end += 1440  # "2330-0015": past midnight
        if end - start <= 720:
            found.append(
                TimeMention(match.start(), match.end(), float(end - start), "range", (start, end))
            )
    # "Start Time: 9:00 ... End Time: 10:15" written as separate fields.
    # Without a separator, only a clock time ("start 2 groups" is not one).
    fields = [f for f in _FIELD_RE.finditer(text) if f["sep"] or f["m"] or f["mer"]]
    starts = [f for f in fields if f["which"].lower().startswith(("start", "time in", "begin"))]
    ends = [f for f in fields if not f["which"].lower().startswith(("start", "time in", "begin"))]
    if len(starts) == 1 and len(ends) == 1 and starts[0].start() < ends[0].start():
        a, b = starts[0], ends[0]
        clock = _range_minutes((a["h"], a["m"], a["mer"]), (b["h"], b["m"], b["mer"]))
        if clock is not None and not any(a.start() <= r.start < b.end() for r in found):
            found.append(
                TimeMention(a.start(), b.end(), float(clock[1] - clock[0]), "total", clock)
            )
    return sorted(found, key=lambda m: m.start)


def find_durations(text: str) -> list[TimeMention]:
    """Stated durations ("approx 90 min", "1 hr 15 min", "an hour and a half", "(0:20)").

    ``kind`` is ``total`` when the words before it say so ("Total time: 45 min").
    """
    found = []
    folded = case_folded(text)
    for match in _ZERO_HOUR_RE.finditer(text):
        before = text[max(0, match.start() - 40) : match.start()]
        minutes = float(match["m"])
        if minutes > 0 and not _NOT_SERVICE_BEFORE.search(before):
            kind = "total" if _TOTAL_BEFORE.search(before) else "duration"
            found.append(TimeMention(match.start(), match.end(), minutes, kind))
    for match in _DURATION_RE.finditer(text, folded):
        before = text[max(0, match.start() - 40) : match.start()]
        after = text[match.end() : match.end() + 30]
        if _NOT_SERVICE_BEFORE.search(before) or _NOT_SERVICE_AFTER.match(after):
            continue
        if match["half"]:
            minutes = 30.0
        elif match["hours"]:
            unit = match["hunit"].lower()
            if unit == "h" and not match["hours"][0].isdigit():
                continue  # "a h" is not an hour
            minutes = _value(match["hours"]) * 60
            if match["andhalf"]:
                minutes += 30
            if match["hmins"]:
                minutes += float(match["hmins"])
        else:
            unit = match["munit"].lower()
            if unit == "m" and not match["mins"][0].isdigit():
                continue  # "a m" is not a minute
            minutes = _value(match["mins"])
        if not 0 < minutes <= MAX_MINUTES:
            continue
        kind = "total" if _TOTAL_BEFORE.search(before) else "duration"
        found.append(TimeMention(match.start(), match.end(), minutes, kind))
    taken = [(m.start, m.end) for m in found]
    for match in _LABELLED_MINUTES_RE.finditer(text, folded):
        minutes = float(match["n"])
        inside = any(a <= match.start("n") < b for a, b in taken)
        if 0 < minutes <= MAX_MINUTES and not inside:
            found.append(TimeMention(match.start("n"), match.end("n"), minutes, "total"))
    return sorted(found, key=lambda m: m.start)


def find_times(text: str) -> list[TimeMention]:
    """Every service-time mention in ``text``, in order, without overlaps (ranges win)."""
    ranges = find_ranges(text)
    mentions = list(ranges)
    for duration in find_durations(text):
        if not any(r.start < duration.end and duration.start < r.end for r in ranges):
            mentions.append(duration)
    return sorted(mentions, key=lambda m: (m.start, m.end))


_FILLER = re.compile(
    r"(?i)^[\s(\[]*(?:total|time|spent|approx(?:imately|\.)?|about|~|for)?[\s:=)\].]*$"
)


def _alone(text: str, mention: TimeMention) -> bool:
    """A duration that is a sentence or line of its own ("... landlord. 60 min.") is the total."""
    if mention.kind != "duration":
        return False
    before = re.split(r"[.!?]\s|\n", text[: mention.start])[-1]
    after = re.split(r"[.!?](?:\s|$)|\n", text[mention.end :])[0]
    return bool(_FILLER.match(before) and _FILLER.match(after))


@dataclass(frozen=True)
class NoteTime:
    """The note's total and the mentions that are parts of it."""

    total: float | None
    total_mention: TimeMention | None
    parts: tuple[TimeMention, ...]
    has_start_stop: bool


def note_time(text: str, mentions: list[TimeMention] | None = None) -> NoteTime:
    """The total minutes a note states, and which mentions are its parts.

    A labelled total ("Total: 17 min", "Duration: 45 min", start/end fields) is the total. Else
    a clock range that holds every other clock range, and is at least as long as they are added
    up and as the durations are added up, is the total (a visit 9:00-11:15 with "waited approx
    90 min" inside it; a visit 1:15-2:05 with 1:15-1:50 and "on hold 10 min (1:50-2:05)"). Else
    the parts are added up.
    """
    mentions = find_times(text) if mentions is None else mentions
    has_start_stop = any(m.clock is not None for m in mentions)
    if not mentions:
        return NoteTime(None, None, (), False)
    totals = [m for m in mentions if m.kind == "total" or _alone(text, m)]
    if totals:
        total = totals[0]
        parts = tuple(m for m in mentions if m is not total and m.kind != "total")
        return NoteTime(total.minutes, total, parts, has_start_stop)
    ranges = [m for m in mentions if m.clock is not None]
    if ranges:
        widest = max(ranges, key=lambda m: m.minutes)
        assert widest.clock is not None
        others = [m for m in mentions if m is not widest]
        inner = [m for m in others if m.clock is not None]
        inside = all(
            widest.clock[0] <= m.clock[0] and m.clock[1] <= widest.clock[1]  # type: ignore[index]
            for m in inner
        )
        # Clock ranges inside the visit and durations are two ways of stating its parts, often
        # both for one activity ("waited on hold 10 min (1:50-2:05)"): each way must fit in it.
        durations = [m for m in others if m.clock is None]
        if (
            inside
            and widest.minutes >= sum(m.minutes for m in inner)
            and widest.minutes >= sum(m.minutes for m in durations)
        ):
            return NoteTime(widest.minutes, widest, tuple(others), has_start_stop)
    return NoteTime(float(sum(m.minutes for m in mentions)), None, tuple(mentions), has_start_stop)
