"""What was done, for how long, and what is billable (sections, activities, time split)."""

from __future__ import annotations

import pytest

DHS_NOTE = (
    "Met clt at DHS 9:00–11:15. Waited in the lobby approx 90 min while clt was called. "
    "CM advocated with the caseworker to expedite her SNAP and completed the redetermination "
    "form with clt."
)


def timed(result):
    """(kind, minutes) of every activity that states its minutes."""
    return [(a.kind, a.minutes) for a in result.activities if a.minutes]


def test_waiting_minutes_are_split_off_the_billable_time(engine):
    result = engine.check(DHS_NOTE, minutes=135)
    time = result.time
    assert result.label == "CM-MH"
    assert (time.total_minutes, time.non_billable_minutes, time.billable_minutes) == (135, 90, 45)
    assert (time.units_supported, time.units_billed, time.units_at_risk) == (3, 9, 6)
    assert time.split == "stated"
    waiting = [a for a in result.activities if a.kind == "non-billable"]
    assert [(a.rule_ids, a.minutes) for a in waiting] == [(("transport.waiting",), 90)]
    assert DHS_NOTE[waiting[0].start : waiting[0].end].startswith("Waited in the lobby")
    assert result.units == 3
    assert any("6 of 9 unit(s) are at risk" in h for h in result.hints)


def test_transport_only_note_supports_no_unit(engine):
    result = engine.check("Transported clt to the pharmacy and back, 45 min.")
    assert result.label == "NON-BILLABLE"
    assert result.time.units_supported == 0
    assert result.time.non_billable_minutes == 45 and result.time.billable_minutes == 0


def test_a_note_with_only_a_total_says_the_split_is_unknown(engine):
    result = engine.check(
        "Transported clt to DHS and advocated with the caseworker re: SNAP. 60 min."
    )
    assert result.label == "CM-MH"
    assert result.time.split == "unknown"
    assert result.time.unallocated_minutes == 60 and result.time.units_supported is None
    assert result.needs_review and any(
        "(transport.transporting) states no minutes; 60 of 60 minutes are not allocated" in r
        for r in result.review_reasons
    )
    status = {d.check: d.status for d in result.documentation}
    assert status["billable_unit"] == "unknown"
    # the time on its own is not shown as an activity
    assert [a.kind for a in result.activities] == ["non-billable", "CM-MH"]


def test_a_note_with_no_non_billable_activity_bills_its_whole_time(engine):
    result = engine.check("10:00-10:40 CM advocated with the landlord to delay the eviction.")
    assert result.time.split == "not needed"
    assert result.time.billable_minutes == 40 and result.time.units_supported == 3


def test_consecutive_activity_ranges_give_each_activity_its_minutes(engine):
    text = (
        "9:00-9:25 drove to clt's apartment. 9:25-10:15 CM advocated with the landlord on clt's "
        "behalf to delay the eviction."
    )
    result = engine.check(text)
    assert result.time.total_minutes == 75
    assert result.time.non_billable_minutes == 25 and result.time.billable_minutes == 50


def test_a_sentence_with_two_kinds_of_activity_is_split(engine):
    result = engine.check(
        "CM transported clt to the SSA office (20 min), then advocated with the claims rep "
        "for her SSI appeal (30 min)."
    )
    kinds = [(a.kind, a.minutes) for a in result.activities]
    assert kinds == [("non-billable", 20), ("CM-MH", 30)]
    assert result.time.billable_minutes == 30 and result.time.units_supported == 2


def test_and_between_two_objects_does_not_split_the_activity(engine):
    result = engine.check(
        "Writer met w/ clt and the CILA manager to plan his move-in (9:00-9:30). Faxed the signed "
        "ROI and clt's face sheet to the CILA from the unit (9:30-9:40)."
    )
    fax = [a for a in result.activities if "Faxed" in a.text]
    assert [(a.kind, a.minutes) for a in fax] == [("non-billable", 10)]
    assert "face sheet" in fax[0].text
    assert result.time.billable_minutes == 30


def test_a_duration_that_restates_the_sentences_range_is_counted_once(engine):
    result = engine.check(
        "1:00-1:35 writer on phone w/ the Choate SW and clt: planned his return to his mother's "
        "home on d/c, faxed the ROI to Choate, and planned the post-placement visit for 8/19 "
        "(35 min). Total 40 min"
    )
    assert sum(a.minutes or 0 for a in result.activities if a.kind == "CM-TLA") == 35
    assert result.time.billable_minutes is not None and result.time.billable_minutes <= 40


def test_billable_minutes_never_exceed_what_the_total_leaves(engine):
    result = engine.check(
        "Writer advocated w/ the SSA rep for clt's back pay (9:00-9:40). Writer faxed the ROI. "
        "Writer linked clt to the food pantry (9:40-10:20). Total 60 min"
    )
    assert result.time.split == "unknown"
    assert result.time.billable_minutes <= 60


def test_a_closing_time_goes_to_the_intervention_the_sentence_reports(engine):
    # The parenthesis sits in the last clause, but the minutes are the whole call's.
    result = engine.check(
        "With clt present, writer called the disability adjudicator, explained that his "
        "notices were stolen, and requested that the exam be rescheduled (10:15-10:40). "
        "Writer mailed a copy of his change-of-address form to SSA (10:40-10:45). Total 30 min."
    )
    assert timed(result) == [("CM-MH", 25), ("non-billable", 5)]
    assert result.time.billable_minutes == 25 and result.time.units_supported == 2


def test_a_closing_time_stays_with_a_failed_contact(engine):
    result = engine.check(
        "Writer called the landlord and left a VM asking for a call back (2 min)."
    )
    assert result.label == "NON-BILLABLE"
    assert timed(result) == [("non-billable", 2)]


def test_a_generic_call_takes_the_kind_of_what_the_call_was_for(engine):
    # "called the ... office" names the channel; "to move the appt" says what it was.
    result = engine.check(
        "Writer coached clt on what to say to his boss (11:40-11:55). Writer called the "
        "cardiology office to move the appt to 1pm (11:55-12:00)."
    )
    assert timed(result) == [("CS-IND", 15), ("non-billable", 5)]
    assert result.time.units_supported == 1


def test_a_rule_switched_off_by_another_names_no_activity(engine):
    # Riding the bus is accompanying, unless the note says the ride was travel training.
    plain = engine.check("Writer rode the bus w/ clt to the clinic (35 min). Total 35 min.")
    assert [a.kind for a in plain.activities] == ["non-billable"]
    training = engine.check(
        "Met clt for bus training. Writer rode the bus w/ clt to the clinic (35 min). "
        "Writer prompted clt to find his stop and pull the cord himself (15 min). Total 50 min."
    )
    assert "non-billable" not in [a.kind for a in training.activities]
    assert training.time.non_billable_minutes == 0


def test_a_status_update_to_a_guardian_is_no_case_management_time(engine):
    # 000 Q73: telling a guardian how the client is doing is neither CM nor CCC.
    result = engine.check(
        "Writer consulted by phone w/ clt's current psychiatrist on his sleep and med response "
        "(2:00-2:25). Writer then called clt's OSG guardian, Ms. Reyes, to update her on clt's "
        "status (2:25-2:40). Total 40 min."
    )
    assert result.label == "CM-CCC"
    assert timed(result) == [("CM-CCC", 25), ("non-billable", 15)]
    assert result.time.units_supported == 2


def test_a_one_line_field_export_reads_only_its_narrative_as_activities(engine):
    result = engine.check(
        "Service: Case Mgmt | Start: 8:30 | End: 9:15 | Narrative: Writer drove to the "
        "pharmacy (8:30-8:50). Writer called the MCO PA line w/ clt present and requested an "
        "urgent PA on clt's behalf (8:50-9:15). | Goal addressed: Clt will take meds as "
        "prescribed | Next: deliver organizers Mon."
    )
    assert [(a.kind, a.minutes) for a in result.activities] == [
        ("non-billable", 20),
        ("CM-MH", 25),
    ]
    assert result.time.units_supported == 2
    kinds = [s.kind for s in result.sections]
    assert kinds[-2:] == ["goal", "plan"] and "activity" in kinds


def test_sections_and_activities_are_in_the_json_contract(engine):
    data = engine.check("D: CM faxed ROI to PCP (10 min).\nP: CM will advocate w/ PCP.").to_dict()
    assert data["contract_version"] == "2"
    assert [s["kind"] for s in data["sections"]] == ["activity", "plan"]
    assert data["sections"][1]["counts"] is False
    assert data["activities"][0]["kind"] == "non-billable"
    assert data["activities"][0]["minutes"] == 10
    assert set(data["time"]) >= {"total_minutes", "units_supported", "units_at_risk", "split"}


# Notes whose only billable words are in goal, plan or header text: nothing billable was done.
BOILERPLATE_NOTES = {
    "DAP": (
        "D: CM left VM for clt's landlord. Faxed ROI to Dr. Patel's office.\n"
        "A: Clt remains at risk of eviction.\n"
        "P: CM will advocate with the landlord and link clt to legal aid."
    ),
    "SOAP": (
        "S: Clt reports the landlord has not called back.\n"
        "O: CM called the landlord twice, no answer; left VM.\n"
        "A: housing unstable\n"
        "P: CM to advocate w/ landlord and refer clt to rental assistance."
    ),
    "BIRP": (
        "B: n/a, clt not seen\n"
        "I: Writer drove to clt's home for the visit; clt not home. Left a card on the door.\n"
        "R: none\n"
        "P: Writer will link clt to SSI and advocate with DHS re: SNAP."
    ),
    "GIRP": (
        "Goal: Clt will obtain SSI with CM advocacy and linkage to a benefits attorney.\n"
        "Intervention: CM faxed the signed release to SSA and copied the award letter for the file.\n"
        "Response: n/a\n"
        "Plan: CM will advocate w/ SSA."
    ),
    "PIE": (
        "P: Clt needs linkage to a PCP and advocacy with Medicaid.\n"
        "I: CM transported clt to the pharmacy and waited in the car 30 min.\n"
        "E: Clt tolerated the ride."
    ),
    "template": (
        "Service Type: CM-TLA\n"
        "Goal/Objective addressed: Obj 1 - transition to a CILA with CM linkage and advocacy\n"
        "Interventions: CM called the CILA, no answer. Left VM. Faxed referral packet.\n"
        "Client Response: not present\n"
        "Plan: CM will advocate for placement and tour the CILA with clt."
    ),
    "printout": (
        "RIVERSIDE BEHAVIORAL HEALTH\nPROGRESS NOTE - Case Management: advocacy and linkage\n"
        "Client: A.B.   DOB: 01/02/1980\n"
        "Date of Service: 11/02/2026  Start Time: 9:00 AM  End Time: 9:40 AM\n\n"
        "Writer left two voicemails for clt's PCP office and mailed the appointment letter.\n\n"
        "Electronically signed by Pat Doe, MHP 11/02/2026 10:01"
    ),
}


@pytest.mark.parametrize("fmt", sorted(BOILERPLATE_NOTES))
def test_billable_words_only_in_goal_plan_or_header_give_non_billable(engine, fmt):
    result = engine.check(BOILERPLATE_NOTES[fmt])
    assert result.label == "NON-BILLABLE", fmt
    counted_cues = [e for e in result.evidence if e.active and e.effect == "billable-cue"]
    assert counted_cues == [], [(e.rule_id, e.text) for e in counted_cues]
    not_counted = [e for e in result.evidence if not e.active and e.effect == "billable-cue"]
    assert not_counted, "the boilerplate cues are shown, as not counted"
    assert any(any(m.startswith("in_") for m in e.modifiers) for e in not_counted)


def test_a_note_with_no_activity_text_at_all_is_non_billable(engine):
    result = engine.check(
        "Goal: CM will advocate and link clt to housing.\nPlan: advocate w/ landlord."
    )
    assert result.label == "NON-BILLABLE"
    assert any("no activity" in r for r in result.review_reasons)


def test_an_activity_under_a_contradicting_header_keeps_its_label(engine):
    result = engine.check(
        "Service Type: CM-TLA\nGoal: transition home\n"
        "Intervention: CM advocated with the clt's landlord by phone to stop the eviction filing "
        "and secured a repayment plan. 30 min."
    )
    assert result.label == "CM-MH"
    assert result.time.units_supported == 2


# False hits reviewers found in realistic notes: each phrase must not count as its rule.
FALSE_HITS = [
    (
        "Phone consult w/ Dr. Ortiz (psychiatrist) re: clt's sleep and med response. Client not "
        "present. Rec: continue current dose.",
        "paperwork.forms_without_client",
    ),
    (
        "CM coached clt in writing a shopping list within her $40 budget; clt priced each item.",
        "errand.groceries_shopping",
    ),
    (
        "Clt reports taking her BP meds daily; CM linked her to mail-order pharmacy.",
        "medical.vitals",
    ),
    (
        "CM completed scheduled home visit; practiced the bus route to the clinic with clt.",
        "scheduling.appointments",
    ),
    (
        "Per her 2019 intake form, clt has no income; CM helped her apply for SNAP.",
        "other.assessment",
    ),
    (
        "Clt plans to pick up her Abilify refill Friday; CM linked her to the food pantry.",
        "medical.refill_call",
    ),
    ("Coordinated with group home staff about clt's med times and bus pass.", "tla.placement"),
    ("Clt was seen at Advocate Christ Medical Center ER overnight.", "cm.advocacy"),
    ("CM did not link, refer, or advocate; clt handled the call herself.", "cm.advocacy"),
    ("CM did not transport, wait, or fax anything today.", "clerical.faxing"),
    ("Writer entered the therapist's new fax # in the collateral tab (5 min).", "clerical.faxing"),
    (
        "Writer looked up dental providers that take his plan and called one.",
        "clerical.records_handling",
    ),
    ("Clt's job coach from DRS told him he could lose the job.", "cs.skill_building"),
    ("Clt chose to put $50 a month into a phone envelope.", "clerical.mailing"),
    ("The pharmacist faxed a PA request to the prescriber.", "cm.prior_authorization"),
    ("His PCP referred him to cardiology after an abnormal EKG.", "cm.linkage_referral"),
    ("Writer drove clt to the CILA for the pre-placement visit (25 min).", "tla.placement_visit"),
    ("CM drove clt back to the CILA (15 min).", "tla.placement"),
    ("Aftercare plan: CST 2x/wk, therapy intake 8/16, psych appt 8/20.", "other.assessment"),
    ("Clt's brother in Danville took him to an ER last summer.", "transport.transporting"),
    ("Clt's mother usually takes her to the dr.", "transport.transporting"),
    ("Went over who drives him on d/c day.", "transport.transporting"),
    ("In the waiting room writer had clt practice box breathing.", "transport.waiting"),
    ("Writer asked that notices come by mail w/ a copy to the agency.", "clerical.mailing"),
    ("Writer met clt at the SSA office on Main (10:00).", "cm.agency_contact"),
    (
        "At the window writer prompted clt to request the overpayment waiver form herself.",
        "cm.advocacy",
    ),
    (
        "At the window writer prompted clt to request the overpayment waiver form herself.",
        "cm.prior_authorization",
    ),
    # the client's response is not what staff did
    (
        "I: Writer drove clt and mom home (20 min).\nR: Clt spoke for herself 3 times.",
        "cs.prompting_self_advocacy",
    ),
]


@pytest.mark.parametrize("text, rule_id", FALSE_HITS)
def test_look_alike_words_do_not_count(engine, text, rule_id):
    result = engine.check(text)
    counted = {e.rule_id for e in result.evidence if e.active}
    assert rule_id not in counted


def test_no_bill_only_the_intervention_hint_on_a_pure_skill_building_note(engine):
    result = engine.check(
        "CM met clt at home and practiced budgeting with her: clt wrote a shopping list from the "
        "store flyer and compared prices, with CM prompting. 40 min."
    )
    assert not any("Bill only the intervention time" in h for h in result.hints)


def test_a_call_that_was_only_the_channel_of_a_reschedule_is_not_a_billable_cue(engine):
    # "called the office and rescheduled": the call is how the scheduling was done.
    result = engine.check(
        "Writer called Dr. Nwosu's office and rescheduled clt's 6/3 appt to 6/10 (5 min)."
    )
    call = [e for e in result.evidence if e.rule_id == "cm.agency_contact"]
    assert len(call) == 1 and not call[0].active
    assert "channel_only" in call[0].modifiers
    assert "only how the contact was made" in call[0].sentence
    assert [(a.kind, a.minutes) for a in result.activities] == [("non-billable", 5)]
    assert "cm.agency_contact" not in result.activities[0].rule_ids
    assert result.label == "NON-BILLABLE"


def test_a_call_with_a_purpose_of_its_own_stays_a_billable_cue(engine):
    result = engine.check(
        "Writer called the SSA office w/ clt present and advocated for an expedited review "
        "of her SSI reconsideration (25 min)."
    )
    call = [e for e in result.evidence if e.rule_id == "cm.agency_contact"]
    assert call and all(e.active for e in call)
    assert result.label == "CM-MH"


def test_a_consultation_that_names_no_professional_is_not_ccc(engine):
    # 000 Q88: a CCC note names the professional consulted.
    unnamed = engine.check(
        "I: Writer consulted re: clt's increased paranoia and refusal to take Invega since "
        "last wk (10:15-10:35, 20 min). Recommendation was to watch for sleep changes.\n"
        "P: Writer to arrange CCC w/ clt's psychiatrist next wk.\nTotal: 20 min"
    )
    assert unnamed.label == "NON-BILLABLE"
    assert any(e.rule_id == "ccc.consultant_unnamed" and e.active for e in unnamed.evidence)
    assert unnamed.time.units_supported == 0
    named = engine.check(
        "I: Writer and Mr. Brandt, clt's IPS employment specialist, consulted about clt's "
        "current functioning: late 4 times in 2 wks; they agreed he will ask for a later "
        "shift start (10:40-11:05).\nTotal: 25 min"
    )
    assert named.label == "CM-CCC"
    assert not any(e.rule_id == "ccc.consultant_unnamed" for e in named.evidence)


def test_a_date_that_belongs_to_the_appointment_does_not_make_the_call_planned(engine):
    result = engine.check(
        "Staff practiced the STOP skill w/ clt (3:00-3:20, 20 min). Staff called the clinic "
        "to confirm clt's appt still on for tomorrow 10am (3:40-3:45, 5 min). Total: 25 min"
    )
    confirm = [e for e in result.evidence if e.rule_id == "scheduling.appointments"]
    assert confirm and confirm[0].active
    assert result.time.non_billable_minutes == 5
    assert result.time.units_supported == 1


def test_time_on_hold_is_waiting(engine):
    result = engine.check(
        "Called the UM line to confirm receipt, on hold 15 min then disconnected "
        "(9:50-10:05). Writer completed the request for more CST units w/ clt (10:05-10:35)."
    )
    assert ("non-billable", 15) in timed(result)


def test_a_context_fact_shows_only_where_a_rule_of_the_note_reads_it(engine):
    # "caseworker" names a professional, but nothing in the DHS note asks who was consulted.
    plain = engine.check(DHS_NOTE)
    assert not any(e.rule_id == "ccc.professional_named" for e in plain.evidence)
    consult = engine.check(
        "Writer consulted about clt's sleep w/ his psychiatrist Dr. Rao (10:00-10:20)."
    )
    named = [e for e in consult.evidence if e.rule_id == "ccc.professional_named"]
    assert named and named[0].text == "psychiatrist"
    assert consult.label == "CM-CCC"


def test_a_professional_named_in_another_sentence_does_not_name_the_one_consulted(engine):
    result = engine.check(
        "D: Writer called Dr. Osei's office and rescheduled clt's appt to 12/4 (5 min). "
        "Writer consulted re: clt's increased paranoia and refusing Invega (10:15-10:35, "
        "20 min). Recommendation was to watch sleep.\nTotal: 25 min"
    )
    assert result.label == "NON-BILLABLE"
    assert any(e.rule_id == "ccc.consultant_unnamed" and e.active for e in result.evidence)


def test_negotiating_a_payment_plan_with_the_landlord_is_the_billable_part(engine):
    result = engine.check(
        "S: Clt states landlord gave her a 5-day notice. O: Met clt at her apt 1:00-1:50. "
        "Writer called the landlord w/ clt on speaker and negotiated a payment plan for the "
        "back rent (1:00-1:25). Drove clt to the township office (1:25-1:40) and waited while "
        "she picked up the GA check (1:40-1:50). A: Clt relieved. P: CM will follow up next wk.",
        billed_code="CM-MH",
    )
    assert result.label == "CM-MH"
    assert (result.time.billable_minutes, result.time.non_billable_minutes) == (25, 25)
    assert (result.time.units_supported, result.time.units_at_risk) == (2, 1)


def test_a_clock_range_written_twice_is_read_not_a_crash(engine):
    # Per-contact units sort the activities' clock ranges; two activities on the same range,
    # one without minutes of its own, once made that sort compare a number with None.
    result = engine.check(
        "Role-played with clt how to ask his landlord for a receipt. 11:00-11:40 Role-played "
        "with clt how to ask his landlord for a receipt. 11:00-11:40 CM called IDHS FCRC re: "
        "clt's SNAP being cut off; with clt on speaker, CM requested the form be re-issued."
    )
    assert result.label == "CS-IND"
    assert result.minutes == 40 and result.units == 3


def test_a_hold_stated_inside_a_calls_closing_time_keeps_its_own_minutes(engine):
    # "(1:50-2:05)" covers the call and the hold; "10 min" is the hold's own.
    result = engine.check(
        "Met at agency office 1:15-2:05. Writer and clt went through the packet line by line "
        "(1:15-1:50). Writer then called IDHS FCRC w/ clt on speaker to confirm the fax # and "
        "due date, waited on hold 10 min (1:50-2:05)."
    )
    timed = {a.kind: a.minutes for a in result.activities if a.minutes is not None}
    assert timed["non-billable"] == 10
    assert result.time.non_billable_minutes == 10 and result.time.billable_minutes == 40
    assert result.units == 3
