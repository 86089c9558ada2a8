from __future__ import annotations

import re

import pytest

from notecheck import documentation, timeparse
from notecheck.activities import billable_units
from notecheck.casefree import case_folded
from notecheck.data import load_notes
from notecheck.sections import load_section_rules
from notecheck.timeparse import find_ranges, find_times, note_time


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("10:00-10:30", 30),
        ("2pm to 2:45pm", 45),
        ("2:15pm - 3pm", 45),
        ("11:30-12:15pm", 45),
        ("12:45-1:30", 45),
        ("from 9:45 am until 10:05 am", 20),
        ("10-11am", 60),
        ("9:45pm-12:15am", 150),  # across midnight
        ("11:30pm - 12:10am", 40),
        ("10:10a-10:35a", 25),  # a bare a/p attached to the digits
        ("12:20p-1:10p", 50),
        ("9:00-9:45 pm", 45),
        ("w/ SW and clt 9:45-10:25: reviewed", 40),  # a colon after the range
        ("(0950-1020)", 30),  # 24-hour clock without colons
        ("1310-1345 hrs", 35),
        ("2330-0015", 45),  # past midnight
    ],
)
def test_start_stop_ranges_give_minutes(text, minutes):
    found = find_ranges(f"Met clt {text} at office.")
    assert [m.minutes for m in found] == [minutes]


@pytest.mark.parametrize(
    "text",
    [
        "met 3-4 times",
        "goals 1-2",
        "rated pain 6-7",
        "Room 12-14",
        "steps 1-2 a day",
        "phoned the clinic to push his appt from 2:00 to 2:30",  # an appointment moved
        "rescheduled the intake from 10:00am to 11:15am",
        "in school yr 2023-2024",  # years, not a 24-hour clock
        "call 217-555-0192",
        "MRN 1234-5678",
        "moved the visit from 1300 to 1400",
    ],
)
def test_number_ranges_are_not_times(text):
    assert find_ranges(text) == []


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("30 min", 30),
        ("30min", 30),
        ("1.5hrs", 90),
        ("1 hr 15 min", 75),
        ("1h 15m", 75),
        ("half an hour", 30),
        ("an hour and a half", 90),
        ("an hour", 60),
        ("two hours", 120),
        ("approx 45 minutes", 45),
        ("(25 min)", 25),
        ("(0:20)", 20),  # hours:minutes under an hour
        ("0:45 hrs", 45),
    ],
)
def test_stated_durations(text, minutes):
    assert note_time(f"CM advocated w/ landlord, {text}.").total == minutes


@pytest.mark.parametrize(
    "text",
    [
        "CM to call clt within 24 hrs of d/c.",  # a deadline, not 1,440 minutes
        "MCO reports 60 units approved through March.",  # an authorisation, not 900 minutes
        "Spoke with Dr. Amin re: meds.",  # a name, not "A min"
        "Clt attends group 3x/week for 45 min each.",  # a frequency
        "Clt called 2 hours ago.",
        "Check vitals every 4 hours.",
        "Clt lives a 20 min drive away.",
    ],
)
def test_non_durations_are_not_service_time(text):
    assert find_times(text) == [] and note_time(text).total is None


def test_a_stated_total_is_not_added_to_its_parts():
    assert note_time("Call 1: 8 min + call 2: 9 min. Total 17 min.").total == 17


def test_a_visit_range_holds_the_durations_inside_it():
    nt = note_time("Met clt at DHS 9:00–11:15. Waited in the lobby approx 90 min.")
    assert nt.total == 135 and [p.minutes for p in nt.parts] == [90]


def test_consecutive_ranges_add_up():
    nt = note_time("9:00-9:30 advocated w/ landlord; 9:30-10:15 practiced budget w/ clt.")
    assert nt.total == 75 and nt.total_mention is None


def test_start_and_end_fields_are_the_total():
    nt = note_time("Start Time: 9:05 AM   End Time: 10:20 AM\nDrove 25 min to clt's home.")
    assert nt.total == 75 and nt.has_start_stop


@pytest.mark.parametrize(
    "text, total",
    [
        ("DOS 11/20  Start 1:05p  Stop 1:50p\nMet mbr and advocated w/ OG&E.", 45),
        ("DOS 10/21/2026    Start 16:00    End 17:25\nWriter met w/ Dr. Amari.", 85),
        ("Time in 1:05 pm  Time out 1:50 pm. Linked clt to LIHEAP.", 45),
        ("Clt will start 2 new meds and end 1 old one; advocated w/ DHS.", None),
    ],
)
def test_start_and_end_fields_without_a_colon_are_read(text, total):
    nt = note_time(text)
    assert nt.total == total
    assert nt.has_start_stop == (total is not None)


@pytest.mark.parametrize(
    "text, total",
    [
        ("Dur: 30\nCalled SSA and advocated for clt.", 30),
        ("Minutes: 40 | Met clt at DHS.", 40),
        ("Total minutes = 25. Linked clt to the food pantry.", 25),
        ("Units: 3. Met clt.", None),
        ("Minutes: 10:15 meeting w/ clt.", None),
        ("Minutes: 30-45 per visit.", None),
    ],
)
def test_a_bare_number_under_a_minutes_label_is_the_total(text, total):
    assert note_time(text).total == total


def test_a_duration_on_its_own_line_is_the_total():
    nt = note_time("Transported clt to DHS and advocated w/ worker.\n60 min")
    assert nt.total == 60 and nt.total_mention is not None


@pytest.mark.parametrize(
    "module, name",
    [
        (timeparse, "_DURATION_RE"),
        (timeparse, "_RANGE_RE"),
        (timeparse, "_MILITARY_RE"),
        (timeparse, "_ZERO_HOUR_RE"),
        (timeparse, "_FIELD_RE"),
        (timeparse, "_NOT_SERVICE_BEFORE"),
        (documentation, "_GOAL_RE"),
    ],
)
def test_a_patterns_opening_lookahead_keeps_every_match(module, name):
    # The lookahead only speeds up the scan: without it the pattern finds the same matches, on
    # the corpus and on phrases made of the pattern's own words (each alternative's first word
    # must be let through, whatever its case).
    guarded = getattr(module, name)
    guarded = getattr(guarded, "ignorecase", guarded)  # a CaseFreePattern's own IGNORECASE form
    unguarded = re.compile(re.sub(r"^\(\?=[^()]*\)", "", guarded.pattern), guarded.flags)
    assert unguarded.pattern != guarded.pattern
    words = re.findall(r"[a-z]+", re.sub(r"\\[a-zA-Z]", " ", guarded.pattern))
    words += [" ".join(words[i : i + n]) for n in (2, 3) for i in range(len(words))]
    templates = ("{w}", "clt {w}", "{w}: 9:00 am", "met {w} 10 min.", "{w} hour", "{w} min")
    phrases = [
        template.format(w=form)
        for w in words
        for form in (w, w.upper(), w.title())
        for template in templates
    ]
    phrases += ["x/week for", "3/week for", "3 times per week for", "x2 for", "(0:20)", "0915-0940"]
    for text in phrases + [note.text for note in load_notes()]:
        found = [m.span() for m in guarded.finditer(text)]
        assert found == [m.span() for m in unguarded.finditer(text)], (name, text)


@pytest.mark.parametrize(
    "pattern",
    [
        timeparse._DURATION_RE,
        timeparse._FIELD_RE,
        timeparse._LABELLED_MINUTES_RE,
        load_section_rules().heading_re,
    ],
    ids=["duration", "field", "labelled_minutes", "heading"],
)
def test_a_case_free_pattern_finds_what_ignorecase_finds(pattern):
    # Run over case-folded text, the pattern must find the same spans and groups (up to case)
    # as the IGNORECASE pattern over the text as written, in every case, and fall back to it
    # where folding is not one character for one (İ, ß) or re and casefold disagree (ı, U+0345).
    notes = [note.text for note in load_notes()]
    odd = [
        "ſix min w/ clt",
        "Start ſ 9:00",
        "Fıve MINUTES",
        "\u0130 twenty min",
        "Straße 30 min",
        "\u212a 15 min",
        "ten\u0345 min",
        "PLAN: f/u. Dur: 30",
        "Goal 2: budget.\nP - call",
    ]
    texts = notes + [t.upper() for t in notes[::3]] + [t.swapcase() for t in notes[1::3]] + odd
    hits = 0
    for text in texts:
        expected = [
            (m.span(), [g.casefold() if g else g for g in m.groups()])
            for m in pattern.ignorecase.finditer(text)
        ]
        found = [
            (m.span(), [g.casefold() if g else g for g in m.groups()])
            for m in pattern.finditer(text)
        ]
        assert found == expected, text[:80]
        hits += len(found)
    assert hits >= 5  # the comparison saw matches
    assert case_folded("İ ok") is None and case_folded("ı") is None
    assert case_folded("Straße") is None and case_folded("ſix MIN") == "six min"


@pytest.mark.parametrize(
    "minutes, units", [(5, 0), (7.4, 0), (7.5, 1), (15, 1), (22.4, 1), (22.5, 2), (60, 4)]
)
def test_units_round_at_the_half_unit(minutes, units):
    assert billable_units(minutes) == units


def test_documentation_checks_pass_and_fail(engine):
    good = engine.check(
        "Goal 2 (stable housing): 1:00-1:40pm CM advocated with landlord re: repairs. "
        "Clt stated she felt relieved."
    )
    status = {d.check: d.status for d in good.documentation}
    assert status == {
        "duration": "pass",
        "billable_unit": "pass",
        "goal_named": "pass",
        "intervention_described": "pass",
    }
    short = engine.check("Advocated with landlord for clt, 5 min")
    status = {d.check: d.status for d in short.documentation}
    assert status["billable_unit"] == "fail" and status["goal_named"] == "fail"


def test_a_non_billable_note_supports_no_unit(engine):
    result = engine.check("Transported clt to the pharmacy and back, 45 min.")
    status = {d.check: d.status for d in result.documentation}
    assert result.label == "NON-BILLABLE"
    assert status["billable_unit"] == "fail"
    assert result.time.units_supported == 0 and result.time.units_at_risk == 3


def test_oklahoma_elements_are_kept_for_their_own_profile():
    from notecheck.documentation import OKLAHOMA_CHECKS, run_checks
    from notecheck.timeparse import note_time

    text = "Goal 2: CM advocated with landlord re: repairs, 40 min."
    stated = note_time(text)
    from notecheck.activities import time_split

    time = time_split("CM-MH", [], stated, None)
    checks = run_checks(
        text,
        time,
        has_start_stop=stated.has_start_stop,
        intervention="pass",
        intervention_detail="",
        names=OKLAHOMA_CHECKS,
    )
    status = {c.name: c.status for c in checks}
    assert status["start_stop_times"] == "fail" and status["client_response"] == "fail"
    assert "004" in next(c.detail for c in checks if c.name == "start_stop_times")


def test_a_ccc_note_names_the_professional_and_the_recommendation(engine):
    good = engine.check(
        "Consulted by phone with clt's psychiatrist Dr. Lin about his sedation and falls; "
        "Dr. Lin recommended moving the dose to bedtime. 20 min."
    )
    bare = engine.check(
        "Consulted with clt's current outside provider about his progress in treatment and "
        "his functioning at home. 20 min."
    )
    assert good.label == "CM-CCC"
    status = {d.check: d.status for d in good.documentation}
    assert status["ccc_documented"] == "pass"
    assert bare.label == "CM-CCC"
    check = next(d for d in bare.documentation if d.check == "ccc_documented")
    assert check.status == "fail" and "recommendation" in check.detail and "Q88" in check.detail
    non_ccc = engine.check("Drove clt to the DHS office and waited 40 min.")
    assert "ccc_documented" not in {d.check for d in non_ccc.documentation}


def test_a_number_word_the_case_free_pattern_matches_is_read_not_crashed_on():
    # "ſ" (long s) matches "s" case-free; the value was looked up lower-cased and raised.
    (mention,) = find_times("Drove ſix min to the shelter.")
    assert mention.minutes == 6.0 and mention.clock is None


@pytest.mark.parametrize(
    "text, total",
    [
        (  # inner clock ranges plus a duration that restates part of one of them
            "O: Met at agency office 1:15-2:05.\nP: Writer and clt went through the packet "
            "(1:15-1:50). Writer called IDHS w/ clt on speaker, waited on hold 10 min (1:50-2:05).",
            50,
        ),
        (  # the total restated as a range with its minutes after the activity ranges
            "CM transported clt to the bank (2:00-2:15). Coached clt at the window (2:15-2:40). "
            "Reviewed the receipt in the car (2:40-2:50). Drove clt back (2:50-3:05).\n"
            "Total 2:00-3:05 (65 min)",
            65,
        ),
        (  # a visit range with the drives stated as durations
            "Picked clt up (15 min drive). 11:00-11:40 role-played the call. Drove clt home "
            "after (15 min). Total contact 10:45-11:55.",
            70,
        ),
        ("9:00-10:00 met clt at DHS. Drove 30 min. Waited 45 min.", 135),  # parts exceed it
    ],
)
def test_a_visit_range_holding_the_parts_is_the_total(text, total):
    assert note_time(text).total == total


@pytest.mark.parametrize(
    "text, total",
    [
        ("Client: J.D.  DOS: 11/24/2026  Start: 0930  End: 1045\nMet clt at DHS.", 75),
        ("Start 16:00    End 17:25\nCalled SSA.", 85),
        ("Start: 115 End: 200pm. Met clt.", 45),
        ("Clt will start 2 groups and end 3 classes.", None),  # counts, not clock times
    ],
)
def test_start_and_end_fields_read_24_hour_times_without_a_colon(text, total):
    assert note_time(text).total == total
