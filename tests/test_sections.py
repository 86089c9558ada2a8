from __future__ import annotations

import re

import pytest

from notecheck.catalog import CatalogError
from notecheck.data import load_notes
from notecheck.sections import find_sections, load_section_rules, parse_section_rules

RULES = load_section_rules()


def kinds(text: str) -> list[tuple[str, str]]:
    """(kind, stripped text) of every part."""
    return [(p.kind, text[p.start : p.end].strip()) for p in find_sections(text, RULES)]


def kind_of(text: str, phrase: str) -> str:
    at = text.index(phrase)
    (part,) = [p for p in find_sections(text, RULES) if p.start <= at < p.end]
    return part.kind


def test_parts_cover_the_whole_note_without_gaps():
    text = "Goal: housing\nD: CM called landlord.\nA: anxious\nP: f/u Tues"
    parts = find_sections(text, RULES)
    assert parts[0].start == 0 and parts[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(parts, parts[1:], strict=False))


def test_unlabelled_note_is_one_activity_section():
    text = "Transported clt to pharmacy (25 min). CM advocated with the insurer."
    assert kinds(text) == [("activity", text)]


DAP = "D: CM left VM for landlord.\nA: Clt struggles with budgeting.\nP: CM will advocate w/ landlord."
SOAP = (
    "S: Clt reports her sister drove her to clinic.\nO: CM met clt at home; practiced budget.\n"
    "A: progressing\nP: f/u next wk"
)
BIRP = "B: calm, cooperative\nI: CM faxed ROI to PCP.\nR: clt agreed\nP: CM will link clt to SSI."
GIRP = "Goal: obtain SSI with CM advocacy\nIntervention: CM left VM for SSA.\nResponse: n/a\nPlan: call again"
PIE = "P: housing instability\nI: Writer drove clt to shelter intake.\nE: clt tolerated ride"
TEMPLATE = (
    "Service Type: CM-TLA\nLocation: Community\nGoal/Objective addressed: Obj 1.2 housing\n"
    "Interventions: CM waited with clt at DHS 40 min.\nClient Response: frustrated\n"
    "Plan: CM will advocate"
)
PRINTOUT = (
    "RIVERSIDE BEHAVIORAL HEALTH\nPROGRESS NOTE\nClient: A.B.  DOB: 1/2/1980\n"
    "Date of Service: 11/02/2026  Start Time: 9:00 AM  End Time: 9:40 AM\n\n"
    "Writer left two voicemails for clt's landlord.\n\n"
    "Electronically signed by Pat Doe, MHP 11/02/2026 10:01"
)
ONE_LINE_EXPORT = (
    "Service: CM-MH | Location: pharmacy | Start: 8:30 | End: 10:00 | Narrative: Writer drove "
    "to the pharmacy and waited for the order. | Goal addressed: Clt will take meds as "
    "prescribed | Next: deliver organizers Mon."
)
AGENCY_PRINTOUT = (
    "SOUTHWEST FAMILY HEALTH & WELLNESS\nClient Progress Note    Printed 05/09/2025 08:12\n"
    "Progress Note (Case Management)\nDOS 10/14/2025    Start 14:00    End 14:50\n"
    "Writer called the clinic.\nCLIENT NO SHOW"
)


@pytest.mark.parametrize(
    "text, phrase, kind",
    [
        (DAP, "CM left VM", "activity"),
        (DAP, "struggles with budgeting", "assessment"),
        (DAP, "CM will advocate", "plan"),
        (SOAP, "sister drove her", "assessment"),
        (SOAP, "practiced budget", "activity"),  # "O:" in a SOAP note is what was done
        (BIRP, "calm, cooperative", "assessment"),
        (BIRP, "faxed ROI", "activity"),
        (BIRP, "clt agreed", "response"),
        (BIRP, "link clt to SSI", "plan"),
        (GIRP, "obtain SSI with CM advocacy", "goal"),
        (GIRP, "left VM for SSA", "activity"),
        (PIE, "housing instability", "goal"),  # "P:" in a PIE note is the problem
        (PIE, "drove clt to shelter", "activity"),
        (PIE, "tolerated ride", "response"),
        (TEMPLATE, "CM-TLA", "header"),
        (TEMPLATE, "Obj 1.2 housing", "goal"),
        (TEMPLATE, "waited with clt", "activity"),
        (TEMPLATE, "CM will advocate", "plan"),
        (PRINTOUT, "PROGRESS NOTE", "header"),
        (PRINTOUT, "Start Time", "header"),
        (PRINTOUT, "left two voicemails", "activity"),
        (PRINTOUT, "Pat Doe", "header"),
        (ONE_LINE_EXPORT, "CM-MH", "header"),
        (ONE_LINE_EXPORT, "Location: pharmacy", "header"),
        (ONE_LINE_EXPORT, "drove to the pharmacy", "activity"),
        (ONE_LINE_EXPORT, "take meds as prescribed", "goal"),
        (ONE_LINE_EXPORT, "deliver organizers", "plan"),
        (AGENCY_PRINTOUT, "SOUTHWEST FAMILY", "header"),
        (AGENCY_PRINTOUT, "Printed 05/09", "header"),
        (AGENCY_PRINTOUT, "(Case Management)", "header"),
        (AGENCY_PRINTOUT, "DOS 10/14", "header"),
        (AGENCY_PRINTOUT, "called the clinic", "activity"),
        (AGENCY_PRINTOUT, "CLIENT NO SHOW", "activity"),  # capitals alone are no agency name
    ],
)
def test_section_kind_in_each_format(text, phrase, kind):
    assert kind_of(text, phrase) == kind


def test_inline_headings_after_a_sentence():
    text = "Goal: housing. Intervention: CM called landlord re: repairs. Plan: f/u Friday."
    assert kind_of(text, "housing") == "goal"
    assert kind_of(text, "called landlord") == "activity"
    assert kind_of(text, "f/u Friday") == "plan"


def test_a_goal_paragraph_does_not_swallow_the_narrative_after_a_blank_line():
    text = "Goal: stable housing\n\nCM called the landlord and advocated for a repair."
    assert kind_of(text, "called the landlord") == "activity"


def test_lower_case_single_letters_and_words_in_prose_are_not_headings():
    text = "d: not a heading\nCM will plan the move. The plan: none yet.\na - b"
    assert {k for k, _ in kinds(text)} == {"activity"}


def test_a_section_that_reports_what_staff_did_is_activity_whatever_its_heading():
    text = (
        "S: clt worried about rent\nA: CM explained clt's SSI dates to the landlord and "
        "advocated for a payment plan.\nP: CM and NF SW finalized the discharge plan today.\n"
        "P: CM will call SSA."
    )
    assert kind_of(text, "clt worried") == "assessment"
    assert kind_of(text, "explained clt's SSI") == "activity"
    assert kind_of(text, "finalized the discharge") == "activity"
    assert kind_of(text, "CM will call SSA") == "plan"


def test_a_staff_report_inside_a_behavior_section_is_an_activity_on_its_own():
    text = (
        "B: Clt has hx of not telling her doctors about side effects. CSW drove clt to Erie "
        "Family Health 9:15-9:40 and waited w/ her. Clt was quiet in the car.\n"
        "I: CSW cued clt to read her list to the NP."
    )
    assert kind_of(text, "hx of not telling") == "assessment"
    assert kind_of(text, "drove clt to Erie") == "activity"
    assert kind_of(text, "quiet in the car") == "assessment"


def test_a_qualifier_between_a_heading_and_its_colon_keeps_the_heading():
    text = (
        "ITP GOAL (from transition plan): Clt will move to her own apt.\nWriter met clt.\n"
        "Youth response: she spoke for herself."
    )
    assert kind_of(text, "will move to her own") == "goal"
    assert kind_of(text, "Writer met clt") == "activity"
    assert kind_of(text, "spoke for herself") == "response"


def test_fields_separated_by_semicolons_on_one_line_are_sections():
    text = (
        "Date: 03/18/2024; Staff: R. Okafor, QMHP; Goal: clt will attend CST; "
        "Intervention: Writer submitted the MCO request for more units (40 min); "
        "Response: clt not present; Plan: f/u w/ UM Fri; Total: 40 min"
    )
    assert kind_of(text, "R. Okafor") == "header"
    assert kind_of(text, "attend CST") == "goal"
    assert kind_of(text, "submitted the MCO") == "activity"
    assert kind_of(text, "clt not present") == "response"
    assert kind_of(text, "f/u w/ UM") == "plan"


def test_a_numbered_goal_heading_inside_the_narrative_is_a_goal():
    text = (
        "Called clt, no answer (2 min). ITP goal 2: clt will keep her housing; CM-TLA "
        "post placement visit. Obj #1.3 - attend day program. Writer faxed the summary."
    )
    assert kind_of(text, "no answer") == "activity"
    assert kind_of(text, "post placement visit") == "goal"
    assert kind_of(text, "attend day program") == "goal"
    assert kind_of(text, "faxed the summary") == "activity"


def test_the_model_reads_the_response_but_its_rule_matches_do_not_count():
    response = RULES.kinds["response"]
    assert response.model_reads and not response.counts and response.modifier == "in_response"
    assert not RULES.kinds["plan"].model_reads


def test_bad_section_rules_fail_at_load():
    with pytest.raises(CatalogError):
        parse_section_rules(
            {
                "kinds": [{"name": "activity", "counts": True}],
                "headings": [{"kind": "nonsense", "names": ["x"]}],
            }
        )
    with pytest.raises(CatalogError):
        parse_section_rules({"kinds": [{"name": "activity", "counts": True, "bogus": 1}]})
    with pytest.raises(CatalogError):  # a kind that does not count needs its modifier
        parse_section_rules(
            {"kinds": [{"name": "activity", "counts": True}, {"name": "plan", "counts": False}]}
        )


def test_sections_land_on_the_spacy_doc(nlp):
    doc = nlp(DAP)
    assert [s.label_ for s in doc.spans["sections"]] == ["activity", "assessment", "plan"]
    (vm,) = [s for s in doc.spans["notecheck"] if s.id_ == "contact.voicemail_left"]
    assert vm._.nc_section == "activity" and vm._.nc_section_modifier is None
    plan_hits = [s for s in doc.spans["notecheck"] if s._.nc_section == "plan"]
    assert plan_hits and all(s._.nc_section_modifier == "in_plan" for s in plan_hits)


def test_two_rules_on_the_same_words_each_carry_their_own_section_modifier(nlp):
    # spaCy keys span extension storage by character offsets only; two rules matching the
    # same words once shared it, and the plan's modifier was appended twice to both.
    doc = nlp("Met clt at the office to review her budget.\nPlan: housing application.")
    same = [s for s in doc.spans["notecheck"] if s.text == "housing application"]
    assert {s.id_ for s in same} == {"cm.entitlement_application", "tla.placement"}
    assert all(s._.nc_modifiers == ("in_plan",) for s in same)
    assert all(s._.nc_section == "plan" for s in same)


def test_the_heading_patterns_opening_test_keeps_every_match():
    # The first test (what may precede a heading) only speeds up the scan: without it the
    # pattern finds the same headings after every prefix its branches allow.
    guarded = RULES.heading_re.ignorecase  # the pattern as IGNORECASE reads it
    opening = r"(?<![^\n|;.!?\"”’')\]])"
    assert guarded.pattern.startswith(opening)
    unguarded = re.compile(guarded.pattern[len(opening) :], guarded.flags)
    prefixes = ["", "x\n", "x\n  - ", "a | ", "a; ", "x ", "x, ", "done. ", "ok! ", "ok? "]
    prefixes += ['said." ', "said.” ", "said.’ ", "said.' ", "(ok.) ", "[ok.] "]
    texts = [
        f"{prefix}{name}{after}"
        for name in RULES.headings
        for prefix in prefixes
        for after in (": text", " 2: text", "\nnext", " by CM")
    ]
    texts += [note.text for note in load_notes()]
    for text in texts:
        found = [(m.span(), m.groupdict()) for m in guarded.finditer(text)]
        assert found == [(m.span(), m.groupdict()) for m in unguarded.finditer(text)], text
