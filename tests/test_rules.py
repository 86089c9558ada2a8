"""Every rule's own examples (positive and negative), plus context golden tables."""

from __future__ import annotations

import pytest

from notecheck.catalog import load_catalog
from notecheck.nlp import SPAN_KEY, active

CATALOG = load_catalog()
MATCH_CASES = [(r.id, ex) for r in CATALOG.rules for ex in r.examples_match]
NO_MATCH_CASES = [(r.id, ex) for r in CATALOG.rules for ex in r.examples_no_match]


def active_rule_ids(nlp, text):
    doc = nlp(text)
    return {s.id_ for s in doc.spans[SPAN_KEY] if active(s)}


def modifiers_of(nlp, text, rule_id):
    doc = nlp(text)
    return [set(s._.nc_modifiers) for s in doc.spans[SPAN_KEY] if s.id_ == rule_id]


@pytest.mark.parametrize("rule_id, text", MATCH_CASES)
def test_rule_fires_on_its_positive_example(nlp, rule_id, text):
    assert rule_id in active_rule_ids(nlp, text)


@pytest.mark.parametrize("rule_id, text", NO_MATCH_CASES)
def test_rule_does_not_count_on_its_negative_example(nlp, rule_id, text):
    assert rule_id not in active_rule_ids(nlp, text)


@pytest.mark.parametrize(
    "text, rule_id, modifier",
    [
        ("CM did not transport clt today.", "transport.transporting", "negated"),
        ("Writer didn't fax the ROI.", "clerical.faxing", "negated"),
        ("Clt declined a ride to the clinic.", "transport.transporting", None),
        ("Vitals were not taken today.", "medical.vitals", "negated"),
        ("Will fax ROI tomorrow.", "clerical.faxing", "hypothetical"),
        ("Plan: CM will transport clt to PCP next week.", "transport.transporting", "hypothetical"),
        (  # advice given to staff says what CM should do, not what CM did
            "Supervisor advised CM to stay neutral and encourage clt to bring it up w/ the "
            "therapist (9:40-9:50).",
            "cs.prompting_self_advocacy",
            "hypothetical",
        ),
        ("Called SSA to advocate for clt, no answer.", "cm.advocacy", "failed"),
        # the failed call sits inside the words the rule matched
        (
            "Called Heritage CILA intake, left VM asking about openings for clt.",
            "tla.placement",
            "failed",
        ),
        ("Called SSA to advocate for clt's back pay, left VM.", "cm.advocacy", "failed"),
        (
            "Attempted to consult with psychiatrist; line busy.",
            "ccc.provider_consultation",
            "failed",
        ),
        ("Clt deposited her check herself while CM coached.", "errand.banking", "client_acts"),
        ("Clt independently picked up her meds.", "errand.medication_pickup", "client_acts"),
        (
            "Clt completed the SNAP application herself.",
            "cm.entitlement_application",
            "client_acts",
        ),
        ("Hospital SW emailed the aftercare plan to writer.", "clerical.email", "other_actor"),
    ],
)
def test_context_modifier_covers_the_match(nlp, text, rule_id, modifier):
    found = modifiers_of(nlp, text, rule_id)
    if modifier is None:
        # "declined a ride": the rule need not even match, but must not count.
        assert rule_id not in active_rule_ids(nlp, text)
    else:
        assert found and modifier in found[0]


@pytest.mark.parametrize(
    "text, rule_id",
    [
        ("CM transported clt to the clinic.", "transport.transporting"),
        ("CM did not call, so writer transported clt.", "transport.transporting"),
        ("Faxed ROI today; will call tomorrow.", "clerical.faxing"),
        ("Picked up clt's meds at CVS.", "errand.medication_pickup"),
        ("Called clt to reschedule her appt.", "scheduling.appointments"),
        # not_after: staff acting with the client, a role as the object of a staff verb
        ("Writer and clt sat down w/ the landlord to explain the late rent.", "cm.advocacy"),
        ("Writer and clt completed the SNAP application together.", "cm.entitlement_application"),
        ("Writer sent the counselor a staff msg in the EHR about the call.", "clerical.email"),
    ],
)
def test_context_scope_stops_at_terminators(nlp, text, rule_id):
    assert rule_id in active_rule_ids(nlp, text)


def test_trigger_word_inside_billable_work_is_not_transport(nlp):
    ids = active_rule_ids(nlp, "Linked clt to the Medicaid transportation benefit.")
    assert "cm.linkage_referral" in ids
    assert "transport.transporting" not in ids


def test_spans_carry_rule_id_and_effect(nlp):
    doc = nlp("CM left VM for clt's PCP re: appt")
    (span,) = [s for s in doc.spans[SPAN_KEY] if s.id_ == "contact.voicemail_left"]
    assert span.label_ == "non-billable"
    assert span.text == "left VM"
    assert (span.start_char, span.end_char) == (3, 10)


def test_gap_patterns_do_not_cross_sentences(nlp):
    ids = active_rule_ids(nlp, "CM left. The voicemail system at the clinic is new.")
    assert "contact.voicemail_left" not in ids


def test_ehr_shorthand_tokenizes(nlp):
    doc = nlp("f/u w/ clt 10:00-10:30, 1.5hrs; d/c plan")
    texts = [t.text for t in doc]
    assert "f/u" in texts and "w/" in texts and "d/c" in texts
    assert texts[texts.index("10:00") : texts.index("10:00") + 3] == ["10:00", "-", "10:30"]
    assert ["1.5", "hrs"] == texts[texts.index("1.5") : texts.index("1.5") + 2]


def test_the_audit_counts_fired_counted_and_discounted_matches_per_rule():
    from notecheck.audit import audit_rules
    from notecheck.data import Note

    def note(i, text, label):
        return Note(f"t-{i}", text, label, "000_x.txt#Q8", "000-Q8", False, "scenario")

    rows = {
        row.rule_id: row
        for row in audit_rules(
            [
                note(1, "Waited in the lobby with clt for 40 min.", "NON-BILLABLE"),
                note(2, "Waited w/ clt at the SSA office, 30 min.", "CM-MH"),
                note(
                    3, "D: Met clt at home.\nPlan: will wait in the lobby w/ clt at DHS.", "CM-MH"
                ),
            ]
        )
    }
    waiting = rows["transport.waiting"]
    assert (waiting.fires, waiting.active, waiting.discounted) == (3, 2, 1)
    assert waiting.conflicts == 1 and waiting.accuracy == 0.5
