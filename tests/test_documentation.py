from __future__ import annotations

import pytest

from notecheck.documentation import billable_units, find_time_range, time_info


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("10:00-10:30", 30),
        ("2pm to 2:45pm", 45),
        ("2:15pm - 3pm", 45),
        ("11:30-12:15pm", 45),
        ("12:45-1:30", 45),
        ("from 9:45 am until 10:05 am", 20),
    ],
)
def test_start_stop_ranges_give_minutes(text, minutes):
    assert find_time_range(f"Met clt {text} at office.")[2] == minutes


@pytest.mark.parametrize("text", ["met 3-4 times", "goals 1-2", "rated pain 6-7", "Room 12-14"])
def test_number_ranges_are_not_times(text):
    assert find_time_range(text) is None


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("30 min", 30),
        ("1.5hrs", 90),
        ("1 hr 15 min", 75),
        ("2 units", 30),
        ("half an hour", 30),
        ("approx 45 minutes", 45),
    ],
)
def test_stated_durations(text, minutes):
    info = time_info(f"CM advocated w/ landlord, {text}.")
    assert info.minutes == minutes and not info.has_start_stop


def test_argument_minutes_override_text():
    info = time_info("10:00-10:30", minutes=12)
    assert info.minutes == 12 and info.source == "argument" and info.has_start_stop


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
        "start_stop_times": "pass",
        "goal_named": "pass",
        "client_response": "pass",
        "intervention_described": "pass",
    }
    short = engine.check("Advocated with landlord for clt, 5 min")
    status = {d.check: d.status for d in short.documentation}
    assert status["billable_unit"] == "fail" and status["goal_named"] == "fail"
