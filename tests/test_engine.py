from __future__ import annotations

import pytest

import notecheck
from notecheck.engine import MAX_TEXT_CHARS, CheckError, Engine, InputError
from notecheck.labels import LABELS

MIXED_NOTES = [
    "CM left VM for clt's PCP re: appt",
    "Clt and CM completed SSI application together; CM advocated with SSA worker by phone for 30 min",
    "Transported clt to pharmacy (25 min). While there CM advocated with pharmacist and insurer "
    "to get her prior auth approved.",
    "Clt called, tearful after fight w/ mom. Used grounding + breathing skills; clt calmer. 20 min",
    "Met w/ inpatient SW re: d/c planning; CILA bed located for 6/12 discharge. 2pm to 2:45pm",
    "Phone consult w/ Dr. Alvarez (psychiatrist) re: clt's sleep; rec: lower dose. 15 min",
    "Ünïcödé note — clt’s “SNAP” renewal done w/ CM 🙂 10:00-10:30",
    "\n\nCM did not transport.\r\nClt took bus.\tWriter linked clt to food pantry.  ",
]


def test_voicemail_note_is_non_billable_citing_voicemail_rule(engine):
    result = engine.check("CM left VM for clt's PCP re: appt")
    assert result.label == "NON-BILLABLE"
    (rule,) = [r for r in result.rules_fired if r.rule_id == "contact.voicemail_left"]
    assert rule.citation == "000_7327f7de9bed1889.txt#Q8"  # Illinois cites Illinois only
    assert rule.source == "Illinois, Rule 132 Q&A, question 8 (line 131)"
    assert rule.active_matches == 1


def test_ssi_with_advocacy_is_billable_without_non_billable_flags(engine):
    result = engine.check(
        "Clt and CM completed SSI application together; CM advocated with SSA worker by phone "
        "for 30 min"
    )
    assert result.label in {"CM-MH", "CS-IND"}
    assert result.non_billable_flags == ()
    assert result.minutes == 30 and result.units == 2


def test_mixed_note_gets_billable_label_and_keeps_non_billable_flag(engine):
    result = engine.check(MIXED_NOTES[2])
    assert result.label == "CM-MH"
    assert "transport.transporting" in {e.rule_id for e in result.non_billable_flags}
    assert any("000 Q38" in hint for hint in result.hints)


def test_negated_transport_is_not_flagged(engine):
    result = engine.check("CM did not transport; clt took the bus. CM linked clt to food pantry.")
    assert "transport.transporting" not in {e.rule_id for e in result.non_billable_flags}
    evidence = [e for e in result.evidence if e.rule_id == "transport.transporting"]
    assert evidence and evidence[0].negated and not evidence[0].active


@pytest.mark.parametrize(
    "text, label",
    [
        (MIXED_NOTES[3], "CS-IND"),
        (MIXED_NOTES[4], "CM-TLA"),
        (MIXED_NOTES[5], "CM-CCC"),
        ("Discussed clt in weekly supervision with my supervisor.", "NON-BILLABLE"),
        ("Faxed ROI to the clinic and made copies for the chart.", "NON-BILLABLE"),
    ],
)
def test_clear_notes_get_their_label(engine, text, label):
    assert engine.check(text).label == label


def test_assessment_note_is_non_billable_with_a_service_hint(engine):
    result = engine.check(
        "Phone intake with new clt: obtained social history, current meds and risk assessment "
        "for the MHA appt."
    )
    assert result.label == "NON-BILLABLE"
    assert any("Mental Health Assessment" in hint for hint in result.hints)


@pytest.mark.parametrize("text", MIXED_NOTES)
def test_evidence_offsets_index_the_original_text(engine, text):
    result = engine.check(text)
    assert result.evidence
    for ev in result.evidence:
        assert text[ev.start : ev.end] == ev.text


def test_result_contract_key_order_is_stable(engine):
    # Clients read the JSON in this order (and the README documents it): a reordered field in
    # a record's to_dict is a contract change.
    text = (
        "D: Clt and CM completed SSI application together; CM advocated with SSA worker by "
        "phone 9:00-9:30. Clt stated she felt relieved. CM left VM for PCP.\n"
        "P: CM will follow up on goal 2."
    )
    data = engine.check(text, billed_code="cm-mh", minutes=30).to_dict()
    assert list(data) == [
        "contract_version",
        "label",
        "display_name",
        "probabilities",
        "confidence",
        "needs_review",
        "review_reasons",
        "evidence",
        "rules_fired",
        "documentation",
        "hints",
        "sections",
        "activities",
        "time",
        "minutes",
        "units",
        "billed_code",
        "billed_code_matches",
        "profile",
        "model_version",
        "ruleset_version",
        "model_terms",
        "rules_vote",
        "decided_by",
    ]
    records = {
        "evidence": [
            "start",
            "end",
            "text",
            "rule_id",
            "effect",
            "negated",
            "modifiers",
            "active",
            "label",
            "sentence",
        ],
        "rules_fired": [
            "rule_id",
            "title",
            "effect",
            "citation",
            "explanation",
            "source",
            "label",
            "matches",
            "active_matches",
        ],
        "documentation": ["check", "status", "detail"],
        "sections": ["start", "end", "kind", "heading", "counts"],
        "activities": ["start", "end", "text", "kind", "rule_ids", "minutes"],
    }
    for key, fields in records.items():
        assert data[key], key
        assert all(list(record) == fields for record in data[key]), key
    assert list(data["time"]) == [
        "total_minutes",
        "billable_minutes",
        "non_billable_minutes",
        "unallocated_minutes",
        "units_supported",
        "units_billed",
        "units_at_risk",
        "total_source",
        "billed_basis",
        "split",
        "explanation",
    ]
    # Tuples in the records are lists in the JSON.
    assert all(type(e["modifiers"]) is list for e in data["evidence"])
    assert all(type(a["rule_ids"]) is list for a in data["activities"])


def test_result_contract_has_all_fields_and_probabilities_sum_to_one(engine):
    data = engine.check(MIXED_NOTES[1], billed_code="cm-mh").to_dict()
    for key in (
        "label",
        "probabilities",
        "confidence",
        "needs_review",
        "evidence",
        "rules_fired",
        "documentation",
        "model_version",
        "ruleset_version",
    ):
        assert key in data
    assert set(data["probabilities"]) == set(LABELS)
    assert abs(sum(data["probabilities"].values()) - 1) < 1e-3
    assert data["billed_code"] == "CM-MH"
    # Illinois asks for time and duration, an ITP goal and the intervention (000 Q38, Q15);
    # start/stop times and the client's response are Oklahoma's elements (004), not Illinois'.
    assert [d["check"] for d in data["documentation"]] == [
        "duration",
        "billable_unit",
        "goal_named",
        "intervention_described",
    ]
    for ev in data["evidence"]:
        assert set(ev) >= {"start", "end", "text", "rule_id", "effect", "negated"}


def test_billed_code_mismatch_is_reported(engine):
    result = engine.check(
        "Transported clt to the DHS office and waited in the lobby.", billed_code="CM-MH"
    )
    assert result.label == "NON-BILLABLE"
    assert result.billed_code_matches is False
    assert any("Billed as CM-MH" in h for h in result.hints)


@pytest.mark.parametrize(
    "text, kwargs, code",
    [
        ("", {}, "empty_text"),
        ("   \n\t ", {}, "empty_text"),
        (42, {}, "invalid_type"),
        (None, {}, "invalid_type"),
        ("x" * (MAX_TEXT_CHARS + 1), {}, "text_too_long"),
        ("clt\x00\x01 binary", {}, "binary_content"),
        ("bad bytes \ufffd here", {}, "binary_content"),
        ("CM linked clt to dentist.", {"billed_code": "T1017"}, "unknown_billed_code"),
        ("CM linked clt to dentist.", {"minutes": -5}, "invalid_minutes"),
        ("CM linked clt to dentist.", {"minutes": "soon"}, "invalid_minutes"),
    ],
)
def test_bad_input_raises_clear_error_without_echoing_the_note(engine, text, kwargs, code):
    with pytest.raises(InputError) as info:
        engine.check(text, **kwargs)
    assert info.value.code == code
    if isinstance(text, str) and len(text) > 5:
        assert text[:20] not in info.value.message


def test_check_many_keeps_order_and_puts_errors_in_place(engine):
    notes = [
        "CM left VM for landlord.",
        "",
        {"text": MIXED_NOTES[5], "billed_code": "CM-CCC"},
        {"text": "ok", "billed_code": "XX"},
        MIXED_NOTES[4],
    ]
    results = list(engine.check_many(notes, batch_size=2))
    assert len(results) == 5
    assert isinstance(results[1], CheckError) and results[1].code == "empty_text"
    assert isinstance(results[3], CheckError) and results[3].code == "unknown_billed_code"
    assert results[0].label == "NON-BILLABLE"
    assert results[2].label == "CM-CCC" and results[2].billed_code_matches is True
    assert results[4].label == "CM-TLA"


def test_check_many_matches_check(engine):
    batch = list(engine.check_many(MIXED_NOTES))
    for text, result in zip(MIXED_NOTES, batch, strict=True):
        single = engine.check(text)
        assert result.label == single.label
        assert result.probabilities == pytest.approx(single.probabilities)


def test_a_batch_gives_each_note_the_result_it_gets_alone():
    """The pipeline runs component by component over a batch (issue 15): nothing may leak
    between the notes of a batch, and nothing may depend on where a note sits in it."""
    from notecheck.data import load_notes

    notes = [note.text for note in load_notes()][::6]
    fresh = Engine()  # caches start empty: the batch fills them as it goes
    batch = [r.to_dict() for r in fresh.check_many(notes, batch_size=64)]
    again = [r.to_dict() for r in fresh.check_many(notes[::-1], batch_size=7)][::-1]
    alone = [Engine().check(text).to_dict() for text in notes[:3]]
    alone += [fresh.check(text).to_dict() for text in notes[3:]]
    assert len(batch) == len(notes) > 300
    for i, (a, b, c) in enumerate(zip(batch, again, alone, strict=True)):
        assert a == b == c, f"note {i}"


def test_module_level_check_uses_the_shipped_model():
    result = notecheck.check("CM faxed the discharge summary to the clinic.")
    assert result.label == "NON-BILLABLE"
    assert result.model_version.startswith("il132-")


@pytest.mark.parametrize(
    "text, rule_id, phrase, modifier, reason",
    [
        (
            "Writer met clt at the unit. 10:20-10:35 faxed the discharge plan signature page to "
            "Rosewood medical records.",
            "tla.discharge_planning",
            "discharge plan",
            "document_of",
            "a document about it was handled",
        ),
        (
            "Clt's pharmacy faxed a refill request this morning. CM coached clt to call the "
            "prescriber himself.",
            "clerical.faxing",
            "faxed",
            "other_actor",
            "done by someone else",
        ),
        (
            "Clt struggles with budgeting across the month. Writer and clt role-played asking the "
            "landlord for a payment plan.",
            "cs.skill_building",
            "budgeting",
            "background",
            "background, not this contact's activity",
        ),
    ],
)
def test_look_alike_words_are_shown_as_not_counted_with_their_reason(
    text, rule_id, phrase, modifier, reason
):
    result = notecheck.check(text)
    start = text.index(phrase)
    hits = [e for e in result.evidence if e.rule_id == rule_id and e.start <= start < e.end]
    assert hits, [(e.rule_id, e.text) for e in result.evidence]
    assert not hits[0].active
    assert modifier in hits[0].modifiers
    assert f"not counted ({reason}" in hits[0].sentence


def test_a_note_the_engine_fails_on_is_an_error_in_its_place_without_its_text(engine, monkeypatch):
    results = type(engine)._results

    def fails_on_marker(self, items, batch_size):
        if any("Roe" in item.text for item in items):
            raise RuntimeError(f"could not parse {items[0].text!r}")
        return results(self, items, batch_size)

    monkeypatch.setattr(type(engine), "_results", fails_on_marker)
    notes = ["Drove clt to the pharmacy, 20 min.", "Jane Roe called.", "Left VM for SSA."]
    out = list(engine.check_many(notes))
    assert [type(o).__name__ for o in out] == ["Result", "CheckError", "Result"]
    assert out[1].code == "internal_error" and "Roe" not in out[1].message
    assert out[0].label == out[2].label == "NON-BILLABLE"


def test_checking_notes_makes_no_reference_cycles_and_restores_the_collector(engine):
    # The collector is paused while a batch is checked; that is safe only while checking
    # leaves nothing for it to find.
    import gc

    notes = [
        "Drove clt to DHS, waited 40 min.\nPlan: f/u re: SNAP.",
        "D: CM met w/ clt at home, reviewed budget (30 min). A: engaged. P: next wk.",
    ] * 20
    list(engine.check_many(notes))  # first use: caches and compiled patterns are made once
    gc.collect()
    assert gc.isenabled()
    try:
        gc.disable()
        results = [r.to_dict() for r in engine.check_many(notes)]
        assert not gc.isenabled()  # a caller's choice is kept
        del results
        assert gc.collect() == 0
    finally:
        gc.enable()
    list(engine.check_many(notes[:3]))
    assert gc.isenabled()


def test_a_number_or_the_client_is_never_shown_as_the_models_cue():
    # The model's strongest terms can be digits from clock times ("10" in "10:00-10:20");
    # a reviewer cannot act on them, so the page and the CLI show the next term instead.
    from notecheck.engine import _model_evidence
    from notecheck.model import TermContribution

    terms = [
        TermContribution(term="10", kind="words", weight=0.9),
        TermContribution(term="2 00", kind="words", weight=0.8),
        TermContribution(term="for clt's", kind="words", weight=0.7),
        TermContribution(term="faxed", kind="words", weight=0.5),
    ]
    found = _model_evidence("10:00-10:20 Faxed the ROI for clt's PCP. 2 00", terms, "NON-BILLABLE")
    assert [(e.text, e.start) for e in found] == [("Faxed", 12)]


def test_a_label_the_rules_chose_over_the_model_says_so(engine):
    # The model's probability of a label it did not pick is not a confidence: the result says
    # who decided, and the CLI and page show "decided by the rules" instead.
    from notecheck.cli import _confidence

    # A decisive rule (000 Q43: the ACT team's work is billed as ACT) over a model that reads
    # the advocacy as billable.
    by_rules = engine.check(
        "Clt is enrolled in ACT. CM called SSA and advocated for clt's back pay; the worker "
        "agreed to expedite. 25 min."
    )
    assert by_rules.label == "NON-BILLABLE" and by_rules.to_dict()["decided_by"] == "rules"
    assert by_rules.confidence < 0.5
    assert _confidence(by_rules) == (
        f"decided by the rules (the model gave it {by_rules.confidence:.2f})"
    )
    by_model = engine.check("CM left VM for clt's PCP re: appt")
    assert by_model.to_dict()["decided_by"] == "model"
    assert _confidence(by_model) == f"confidence {by_model.confidence:.2f}"
