from __future__ import annotations

import json

import pytest

from notecheck.data import load_notes
from notecheck.evalset import (
    FORMATS,
    EvalSetError,
    activity_extents,
    load_eval_notes,
    parse_record,
    score_spans,
)
from notecheck.result import Evidence, TimeBreakdown

RECORD = {
    "id": "t-1",
    "format": "DAP",
    "text": "D: Drove 20 min to clt's home. CM advocated with the landlord (25 min).",
    "label": "CM-MH",
    "source": "000_7327f7de9bed1889.txt#Q38",
    "activities": [
        {"quote": "Drove 20 min to clt's home", "kind": "non-billable", "minutes": 20},
        {"quote": "CM advocated with the landlord", "kind": "CM-MH", "minutes": 25},
    ],
    "traps": ["D:"],
    "billed_minutes": 45,
    "time": {"total_minutes": 45, "non_billable_minutes": 20, "billable_minutes": 25},
}


def test_the_split_has_at_least_100_notes_in_every_format_and_is_never_trained_on():
    notes = load_eval_notes()
    assert len(notes) >= 100
    assert all(sum(n.format == f for n in notes) >= 8 for f in FORMATS)
    training = {n.text for n in load_notes()}
    assert not any(n.text in training for n in notes)


def test_quotes_resolve_to_offsets_and_gold_units_follow_the_half_unit():
    note = parse_record(RECORD, "t")
    first = note.activities[0]
    assert note.text[first.start : first.end] == "Drove 20 min to clt's home"
    assert note.gold_units == 2  # 25 billable minutes


@pytest.mark.parametrize(
    "change",
    [
        {"label": "BILLABLE"},
        {"format": "memo"},
        {"activities": [{"quote": "not in the text", "kind": "CM-MH", "minutes": None}]},
        {"activities": [{"quote": "Drove", "kind": "travel", "minutes": None}]},
        {"traps": ["missing phrase"]},
        {"source": "000_7327f7de9bed1889.txt#Q999"},
    ],
)
def test_bad_records_are_refused(change):
    with pytest.raises(EvalSetError):
        parse_record(json.loads(json.dumps({**RECORD, **change})), "t")


def _evidence(start: int, end: int, effect: str) -> Evidence:
    return Evidence(start, end, "", "x.y", effect, False)


class _Result:
    def __init__(self, evidence, units):
        self.evidence = evidence
        self.time = TimeBreakdown(45, 25, 20, 0, units, 3, 3 - units, "", "", "stated", "")


def test_span_scores_count_hits_inside_gold_activities_of_the_same_effect():
    note = parse_record(RECORD, "t")
    drove = note.text.index("Drove")
    advocated = note.text.index("advocated")
    result = _Result(
        [
            _evidence(drove, drove + 5, "non-billable"),  # right
            _evidence(advocated, advocated + 9, "non-billable"),  # wrong effect
            _evidence(0, 2, "billable-cue"),  # on the trap
        ],
        units=2,
    )
    scores = score_spans([note], [result]).as_dict()
    assert scores["evidence_precision"] == round(1 / 3, 4)
    assert scores["evidence_recall"] == 0.5
    assert scores["trap_hit_rate"] == 1.0
    assert scores["units_accuracy"] == 1.0


def test_a_gold_activity_is_the_sentence_around_its_quote():
    record = {
        **RECORD,
        "text": "D: Drove 20 min to clt's home, then waited. Today CM advocated with the landlord "
        "(25 min), then wrote it up. Clt agreed.",
    }
    note = parse_record(record, "t")
    (drove, advocated) = activity_extents(note)
    assert note.text[drove[0] : drove[1]] == "D: Drove 20 min to clt's home, then waited"
    assert note.text[advocated[0] : advocated[1]] == (
        "Today CM advocated with the landlord (25 min), then wrote it up"
    )
    wrote = note.text.index("wrote it up")
    agreed = note.text.index("Clt agreed")
    result = _Result(
        [
            _evidence(wrote, wrote + 5, "billable-cue"),
            _evidence(agreed, agreed + 3, "billable-cue"),
        ],
        units=2,
    )
    scores = score_spans([note], [result]).as_dict()
    assert scores["evidence_precision"] == 0.5  # the sentence tail counts, the next sentence not
    assert scores["evidence_precision_strict"] == 0.0
