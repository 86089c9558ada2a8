from __future__ import annotations

from pathlib import Path

import pytest

from notecheck.catalog import CatalogError, compile_pattern, load_catalog
from notecheck.seeds import parse_citation

CONTEXT = Path(__file__).parent.parent / "notecheck" / "rules" / "context.toml"

GOOD_RULE = """
[[rules]]
id = "demo.fax"
title = "Faxing"
effect = "non-billable"
patterns = ["fax"]
citations = ["000_7327f7de9bed1889.txt#Q10"]
explanation = "Clerical."
examples.match = ["Faxed it."]
examples.no_match = ["Called."]
"""


def write_catalog(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text('profile = "il132"\nversion = "t-1"\ntitle = "t"\n' + body)
    return path


def test_shipped_catalog_has_at_least_40_cited_rules():
    catalog = load_catalog()
    assert len(catalog.rules) >= 40
    for rule in catalog.rules:
        assert rule.citations and all(parse_citation(c) for c in rule.citations)
        assert rule.examples_match and rule.examples_no_match


def test_shipped_catalog_covers_every_label():
    catalog = load_catalog()
    cue_labels = {r.label for r in catalog.rules if r.effect == "billable-cue"}
    assert cue_labels == {"CM-MH", "CS-IND", "CM-TLA", "CM-CCC"}
    assert sum(r.effect == "non-billable" for r in catalog.rules) >= 25


def test_minimal_catalog_loads(tmp_path):
    catalog = load_catalog(write_catalog(tmp_path, GOOD_RULE), CONTEXT)
    assert [r.id for r in catalog.rules] == ["demo.fax"]


@pytest.mark.parametrize(
    "change, message",
    [
        (('effect = "non-billable"', 'effect = "maybe"'), "effect"),
        (('title = "Faxing"', 'title = "Faxing"\ncolour = "red"'), "unknown key"),
        (("#Q10", "#Q95"), "not a passage"),
        (('patterns = ["fax"]', 'patterns = ["*0-2"]'), "start with a required word"),
        (('patterns = ["fax"]', "patterns = []"), "must not be empty"),
        (('id = "demo.fax"', 'id = "Fax"'), "family.name"),
        (('effect = "non-billable"', 'effect = "billable-cue"'), "billable 'label'"),
        (('examples.no_match = ["Called."]', ""), "examples.no_match"),
        (('title = "Faxing"', 'title = "Faxing"\ndecisive = "yes"'), "decisive must be"),
        (
            ('effect = "non-billable"', 'effect = "other-service"\nservice = "x"\ndecisive = true'),
            "can be decisive",
        ),
        (('title = "Faxing"', 'title = "Faxing"\napplies_to = ["CM-MH"]'), "only with a decisive"),
        (
            (
                'title = "Faxing"',
                'title = "Faxing"\ndecisive = true\napplies_to = ["NON-BILLABLE"]',
            ),
            "not a billable label",
        ),
        (('title = "Faxing"', 'title = "Faxing"\nunless = ["demo.nothing"]'), "unknown rule"),
        (('title = "Faxing"', 'title = "Faxing"\nunless = ["nofamily."]'), "no rule family"),
        (('title = "Faxing"', 'title = "Faxing"\ngeneric = "yes"'), "generic must be"),
    ],
)
def test_bad_rule_fails_at_load(tmp_path, change, message):
    body = GOOD_RULE.replace(*change)
    with pytest.raises(CatalogError, match=message):
        load_catalog(write_catalog(tmp_path, body), CONTEXT)


def test_duplicate_rule_id_fails_at_load(tmp_path):
    with pytest.raises(CatalogError, match="duplicate rule id"):
        load_catalog(write_catalog(tmp_path, GOOD_RULE + GOOD_RULE), CONTEXT)


def test_pattern_language_compiles_gaps_options_and_exact_forms():
    leave, gap, vm, staffing, x = compile_pattern("leave *0-3 vm|voicemail =staffing? x")
    assert leave.values == {"leave"} and leave.attr == "lemma" and leave.min_count == 1
    assert gap.values is None and (gap.min_count, gap.max_count) == (0, 3)
    assert {"vm", "voicemail"} <= vm.values
    assert staffing.values == {"staffing"} and staffing.attr == "lower" and staffing.min_count == 0
    assert x.values == {"x"}


def test_pattern_alternatives_are_folded_to_lemmas():
    (word,) = compile_pattern("transported")
    assert "transport" in word.values


@pytest.mark.parametrize("pattern", ["*0-2 fax", "fax? now", "a|=b", "x *3-1 y"])
def test_bad_patterns_are_rejected(pattern):
    with pytest.raises(CatalogError):
        compile_pattern(pattern)


def test_every_illinois_rule_cites_illinois_passages_only():
    # 000 governs the Illinois profile; what another seed says belongs to that seed's profile
    # (notecheck/profiles/<name>/), where it may say the opposite (003 bills assessment as TCM).
    catalog = load_catalog()
    assert catalog.profile == "il132"
    foreign = {
        rule.id: [c for c in rule.citations if not c.startswith("000_7327f7de9bed1889.txt#")]
        for rule in catalog.rules
    }
    assert not any(foreign.values()), {k: v for k, v in foreign.items() if v}


def _services(**change):
    import tomllib
    from importlib import resources

    raw = tomllib.loads(
        resources.files("notecheck.rules").joinpath("services.toml").read_text("utf-8")
    )
    for n, item in enumerate(raw["services"]):
        if item["code"] == "CM-TLA":
            raw["services"][n] = {**item, **change}
    return raw


@pytest.mark.parametrize(
    "change, message",
    [
        ({"min_staff": "intern"}, "min_staff 'intern' is not a staff level"),
        ({"cap": "weekly"}, "cap 'weekly' is not one of the [[caps]]"),
        ({"code": "CM-XYZ"}, "CM-XYZ is classified but is not one of"),
        ({"citations": ["000_7327f7de9bed1889.txt#Q999"]}, "Q999"),
        ({"colour": "red"}, "unknown key(s) ['colour']"),
    ],
)
def test_a_bad_service_entry_is_refused_at_load(change, message):
    from notecheck.services import parse_service_rules

    with pytest.raises(CatalogError) as info:
        parse_service_rules(_services(**change))
    assert message in str(info.value)


def test_the_shipped_services_say_q61_and_q46():
    from notecheck.services import default_service_rules

    services = default_service_rules()
    assert services.services["CM-TLA"].min_staff == "MHP"
    assert services.staff_allowed("CM-TLA", "RSA") is False
    assert services.staff_allowed("CM-MH", "RSA") is True
    assert services.staff_allowed("CS-IND", "RSA") is None
    by_name = {cap.name: cap for cap in services.caps}
    assert by_name["case management"].hours == 240
    assert set(by_name["case management"].codes) == {"CM-MH", "CM-CCC", "CM-LOCUS"}
    assert by_name["transition linkage and aftercare"].codes == ("CM-TLA",)
    assert services.billed_codes[-1] == "CM-LOCUS"


def test_an_unless_chain_is_worked_out_to_a_fixed_point():
    from notecheck.catalog import load_catalog

    catalog = load_catalog()
    cue, unnamed, named = (
        "ccc.provider_consultation",
        "ccc.consultant_unnamed",
        "ccc.professional_named",
    )
    # A named professional switches off "unnamed", which then no longer switches off the cue.
    assert catalog.standing([(cue, 0), (unnamed, 0), (named, 0)]) == [True, False, True]
    assert catalog.standing([(cue, 0), (unnamed, 0)]) == [False, True]
    # "unnamed" reads its own sentence only: a doctor named in another one does not count.
    assert catalog.standing([(named, 0), (cue, 1), (unnamed, 1)]) == [True, False, True]


def test_an_unknown_unless_scope_is_refused(tmp_path):
    from notecheck.catalog import CatalogError, load_catalog

    path = tmp_path / "rules.toml"
    text = (
        Path(__file__).parent.parent / "notecheck" / "profiles" / "il132" / "rules.toml"
    ).read_text()
    path.write_text(text.replace('unless_scope = "sentence"', 'unless_scope = "paragraph"'))
    with pytest.raises(CatalogError, match="unless_scope"):
        load_catalog(path)


def test_a_modifier_flag_that_is_not_true_or_false_fails_at_load(tmp_path):
    context = tmp_path / "context.toml"
    text = CONTEXT.read_text(encoding="utf-8").replace("inside = true", 'inside = "yes"', 1)
    assert 'inside = "yes"' in text
    context.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match="inside: must be true or false"):
        load_catalog(write_catalog(tmp_path, GOOD_RULE), context)
