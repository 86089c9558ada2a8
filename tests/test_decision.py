from __future__ import annotations

from notecheck.decision import RuleVotes, decide, rules_vote


def probs(**kw):
    base = {"CM-MH": 0.0, "CS-IND": 0.0, "CM-TLA": 0.0, "CM-CCC": 0.0, "NON-BILLABLE": 0.0}
    base.update({k.replace("_", "-"): v for k, v in kw.items()})
    return base


def test_rules_abstain_without_hits():
    assert rules_vote(RuleVotes()) is None


def test_billable_cue_outvotes_non_billable_hits():
    votes = RuleVotes(non_billable=("transport.transporting",), cues={"CM-MH": ("cm.advocacy",)})
    assert rules_vote(votes) == "CM-MH"


def test_tie_between_billable_labels_abstains():
    votes = RuleVotes(cues={"CM-MH": ("cm.advocacy",), "CS-IND": ("cs.skill_building",)})
    assert rules_vote(votes) is None


def test_confident_model_keeps_its_label_but_disagreement_needs_review():
    d = decide(probs(CM_MH=0.8, NON_BILLABLE=0.2), RuleVotes(non_billable=("clerical.faxing",)))
    assert d.label == "CM-MH" and d.needs_review and not d.overridden


def test_unsure_model_is_overridden_by_rule_vote():
    d = decide(probs(CM_MH=0.45, NON_BILLABLE=0.40, CS_IND=0.15), RuleVotes(non_billable=("x.y",)))
    assert d.label == "NON-BILLABLE" and d.overridden and d.needs_review


def test_rule_vote_for_an_implausible_label_does_not_override():
    d = decide(
        probs(CM_MH=0.45, NON_BILLABLE=0.45, CM_TLA=0.10), RuleVotes(cues={"CM-TLA": ("t.x",)})
    )
    assert d.label == "CM-MH" and not d.overridden


def test_agreement_with_high_confidence_needs_no_review():
    d = decide(
        probs(CM_CCC=0.9, CM_MH=0.1), RuleVotes(cues={"CM-CCC": ("ccc.provider_consultation",)})
    )
    assert d.label == "CM-CCC" and not d.needs_review and d.confidence == 0.9


def test_probability_tie_resolves_in_label_order():
    d = decide(probs(CM_MH=0.5, NON_BILLABLE=0.5), RuleVotes())
    assert d.label == "CM-MH"


def test_excluding_rule_raises_review():
    d = decide(probs(CM_CCC=0.9), RuleVotes(excludes={"CM-CCC": ("ccc.family_not_professional",)}))
    assert d.label == "CM-CCC" and d.needs_review


def test_a_ruled_out_label_gives_way_to_the_next_most_probable_one():
    p = probs(CM_TLA=0.7, CM_MH=0.2, NON_BILLABLE=0.1)
    out = {"CM-TLA": ("tla.placement_settled",)}
    d = decide(p, RuleVotes(excludes=out, rules_out=out))
    assert d.label == "CM-MH" and d.needs_review and d.overridden
    assert any("ruled out by tla.placement_settled" in r for r in d.review_reasons)


def test_a_rule_vote_for_a_ruled_out_label_does_not_override():
    p = probs(CM_MH=0.45, CM_TLA=0.40, NON_BILLABLE=0.15)
    out = {"CM-TLA": ("tla.same_home",)}
    votes = RuleVotes(cues={"CM-TLA": ("tla.placement",)}, excludes=out, rules_out=out)
    assert decide(p, votes).label == "CM-MH"


def test_a_decisive_rule_makes_the_note_non_billable():
    d = decide(
        probs(CM_MH=0.95),
        RuleVotes(non_billable=("itp.no_objective",), decisive=("itp.no_objective",)),
    )
    assert d.label == "NON-BILLABLE" and d.needs_review and d.overridden


def test_only_non_billable_rules_beat_a_lukewarm_billable_model():
    votes = RuleVotes(non_billable=("clerical.faxing", "transport.waiting"))
    d = decide(probs(CM_TLA=0.65, NON_BILLABLE=0.35), votes)
    assert d.label == "NON-BILLABLE" and d.overridden and d.needs_review
    d = decide(probs(CM_TLA=0.75, NON_BILLABLE=0.25), votes)
    assert d.label == "CM-TLA" and not d.overridden


def test_a_billable_cue_keeps_a_lukewarm_billable_label():
    votes = RuleVotes(non_billable=("clerical.faxing",), cues={"CM-TLA": ("tla.aftercare",)})
    d = decide(probs(CM_TLA=0.65, NON_BILLABLE=0.35), votes)
    assert d.label == "CM-TLA"


def test_no_activity_text_is_non_billable_whatever_the_model_says():
    d = decide(probs(CM_MH=0.95, NON_BILLABLE=0.05), RuleVotes(), has_activity=False)
    assert d.label == "NON-BILLABLE" and d.needs_review
