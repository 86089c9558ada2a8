"""Rule profiles: the registry, each profile on its own seed's cases, and the conflicts between them."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from notecheck.api import create_app
from notecheck.api.settings import Settings
from notecheck.batch.ledger import LEDGER_VERSION, open_ledger
from notecheck.cli import main
from notecheck.engine import Engine, InputError
from notecheck.profiles import ProfileError, load_profile, profile_names, validate
from notecheck.profiles.evaluation import evaluate_profile, load_profile_notes
from notecheck.services import default_service_rules

OTHERS = ("ok-t1017", "ca-sf-tcm", "ca-la-sapc", "csc")
ROOT = Path(__file__).resolve().parent.parent

# A nursing-facility resident moving to an apartment: TLA in Illinois (000 Q5, Q14, Q58), no
# compensable case management for a nursing-home resident in Oklahoma (004 limitation V).
NURSING_FACILITY_MOVE = (
    "Mbr is a long-term resident at Sunrise Nursing Center. Met w/ mbr and the NF social worker "
    "to plan her move to a 1BR apartment; toured the unit w/ mbr and the landlord and reviewed "
    "the lease 1:00-1:45."
)
# Two significant 10-minute calls on one day: one 15-minute sub-unit combined under the CSC
# memo (001 §3), each its own unit in Illinois, where short contacts are not bundled (000 Q54).
TWO_SHORT_CALLS = (
    "CM called the DHS caseworker 9:00-9:10 to advocate for clt's SNAP recert and got the "
    "interview moved. 1:30-1:40 CM called the pharmacy to advocate for a prior auth of clt's "
    "refill."
)


@pytest.fixture(scope="module")
def engines(engine):
    """One engine per profile, sharing the loaded Illinois model."""
    built = {"il132": engine}
    for name in OTHERS:
        built[name] = Engine(profile=name, model=engine.model)
    return built


def test_the_registry_lists_the_five_profiles_default_first():
    assert profile_names() == ("il132", "ca-la-sapc", "ca-sf-tcm", "csc", "ok-t1017")
    assert load_profile().name == "il132"
    assert load_profile("ok-t1017").label_codes == ("T1017", "NON-BILLABLE")
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile("tx-2000")


def test_the_cli_lists_the_profiles(capsys):
    assert main(["profiles", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listed] == list(profile_names())
    assert [p["default"] for p in listed] == [True, False, False, False, False]
    assert main(["check", "--profile", "tx-2000", "note"]) == 2


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_validates_and_its_rule_examples_behave(name):
    assert validate((name,)) == []


@pytest.mark.parametrize("name", OTHERS)
def test_every_rule_of_a_profile_cites_its_own_seed_only(name):
    from notecheck.catalog import load_catalog

    profile = load_profile(name)
    catalog = load_catalog(profile.folder.joinpath("rules.toml"))
    cited = {c.split("_", 1)[0] for rule in catalog.rules for c in rule.citations}
    assert cited == set(profile.sources)


@pytest.mark.parametrize(
    ("name", "minutes", "units"),
    [
        ("il132", 7.4, 0),
        ("il132", 7.5, 1),
        ("il132", 22.5, 2),
        ("ok-t1017", 14, 0),
        ("ok-t1017", 29, 1),
        ("csc", 14.9, 0),
        ("csc", 45, 3),
        ("ca-sf-tcm", 16, 2),
    ],
)
def test_units_follow_the_profile(name, minutes, units):
    assert load_profile(name).units.units(minutes) == units


@pytest.mark.parametrize("name", OTHERS)
def test_a_profile_answers_its_seed_cases_with_the_seed_verdict(engines, name):
    notes = load_profile_notes(load_profile(name), split="eval")
    results = list(engines[name].check_many([n.text for n in notes]))
    wrong = [
        (n.id, n.label, r.label) for n, r in zip(notes, results, strict=True) if n.label != r.label
    ]
    assert not wrong
    assert {r.profile for r in results} == {name}


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHERS)
def test_a_profile_holds_its_measured_accuracy_on_held_out_notes(name):
    # Floors under the README's figures (held-out notes no rule author saw): a change that
    # loses more than a note or two here has broken the profile.
    report = evaluate_profile(name)["splits"]["heldout"]
    assert report["notes"] >= 40
    assert report["engine"]["accuracy"] >= 0.75
    assert report["engine"]["non_billable_recall"] >= 0.65
    # The shipped card quotes today's figures ("notecheck evaluate --profile NAME --write-card").
    card = load_profile(name).folder.joinpath("CARD.md").read_text(encoding="utf-8")
    row = "| engine (profile rules + borrowed model) | {:.3f} | {:.3f} |".format(
        report["engine"]["accuracy"], report["engine"]["macro_f1"]
    )
    assert row in card


def test_a_nursing_facility_move_is_tla_in_illinois_and_not_billable_in_oklahoma(engines):
    illinois = engines["il132"].check(NURSING_FACILITY_MOVE)
    oklahoma = engines["ok-t1017"].check(NURSING_FACILITY_MOVE)
    assert illinois.label == "CM-TLA"
    assert oklahoma.label == "NON-BILLABLE"
    assert "residence.nursing_facility" in {r.rule_id for r in oklahoma.rules_fired}
    cited = next(r for r in oklahoma.rules_fired if r.rule_id == "residence.nursing_facility")
    assert cited.citation.startswith("004_")
    assert oklahoma.probabilities.keys() == {"T1017", "NON-BILLABLE"}


def test_a_relative_in_a_nursing_home_does_not_exclude_the_member(engines):
    note = (
        "Met w/ mbr at her apt 2:00-2:40; mbr's mother lives in a nursing home and mbr worries "
        "about visits. Linked mbr to the county transit office for a reduced-fare pass."
    )
    result = engines["ok-t1017"].check(note)
    assert "residence.nursing_facility" not in {r.rule_id for r in result.rules_fired}


def test_two_short_calls_combine_under_the_csc_and_stand_alone_in_illinois(engines):
    illinois = engines["il132"].check(TWO_SHORT_CALLS)
    council = engines["csc"].check(TWO_SHORT_CALLS)
    assert (illinois.label, illinois.time.units_supported) == ("CM-MH", 2)
    assert (council.label, council.time.units_supported) == ("CM", 1)
    assert council.time.billable_minutes == 20


def test_one_short_call_is_under_the_csc_minimum(engines):
    result = engines["csc"].check(TWO_SHORT_CALLS.split(" 1:30")[0])
    assert result.label == "NON-BILLABLE"
    assert result.time.billable_minutes == 10
    assert any("15-minute minimum" in reason for reason in result.review_reasons)
    assert engines["il132"].check(TWO_SHORT_CALLS.split(" 1:30")[0]).label == "CM-MH"


def test_billed_codes_are_the_profiles(engines):
    assert engines["ok-t1017"].check(TWO_SHORT_CALLS, billed_code="t1017").billed_code == "T1017"
    with pytest.raises(InputError, match="expected one of T1017"):
        engines["ok-t1017"].check(TWO_SHORT_CALLS, billed_code="CM-MH")
    with pytest.raises(InputError):
        engines["il132"].check(TWO_SHORT_CALLS, billed_code="NON-BILLABLE")


def test_documentation_checks_cite_the_profiles_own_passages(engines):
    note = "Called mbr re: her housing voucher and linked her to the housing authority."
    oklahoma = {d.check: d.detail for d in engines["ok-t1017"].check(note).documentation}
    assert "(004 documentation (3))" in oklahoma["start_stop_times"]
    assert "000" not in " ".join(oklahoma.values())
    illinois = {d.check for d in engines["il132"].check(note).documentation}
    assert "start_stop_times" not in illinois and "client_response" not in illinois


def test_the_api_checks_with_a_profile_and_lists_them(engine):
    app = create_app(Settings(), engine=engine)
    with TestClient(app) as client:
        listed = client.get("/v1/profiles").json()
        assert [p["name"] for p in listed] == list(profile_names())
        body = {"text": NURSING_FACILITY_MOVE, "profile": "ok-t1017"}
        result = client.post("/v1/check", json=body).json()
        assert (result["profile"], result["label"]) == ("ok-t1017", "NON-BILLABLE")
        assert (
            client.post("/v1/check", json={"text": NURSING_FACILITY_MOVE}).json()["profile"]
            == "il132"
        )
        refused = client.post("/v1/check", json={"text": "x y z", "profile": "tx-2000"})
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "unknown_profile"
        codes = [label["code"] for label in client.get("/v1/labels?profile=csc").json()]
        assert codes == ["CM", "NON-BILLABLE"]
        batch = client.post(
            "/v1/check/batch",
            json={
                "profile": "csc",
                "notes": [
                    {"text": TWO_SHORT_CALLS},
                    {"text": TWO_SHORT_CALLS, "profile": "il132"},
                    {"text": TWO_SHORT_CALLS, "profile": "nowhere"},
                ],
            },
        ).json()
        first, second, third = batch["results"]
        assert batch["profile"] == "csc"
        assert (first["profile"], first["label"]) == ("csc", "CM")
        assert (second["profile"], second["label"]) == ("il132", "CM-MH")
        assert third["error"]["code"] == "unknown_profile"


def test_the_server_default_profile_comes_from_the_environment(monkeypatch, engine):
    monkeypatch.setenv("NOTECHECK_PROFILE", "csc")
    assert Settings.from_env().profile == "csc"
    monkeypatch.setenv("NOTECHECK_PROFILE", "nowhere")
    with pytest.raises(ProfileError):
        Settings.from_env()


def test_the_page_offers_each_profile_with_its_billed_codes():
    page = (ROOT / "notecheck" / "web" / "index.html").read_text(encoding="utf-8")
    offered = dict(re.findall(r'<option value="([\w-]+)" data-codes="([^"]*)"', page))
    assert list(offered) == ["il132", "ok-t1017", "ca-sf-tcm", "ca-la-sapc", "csc"]
    assert set(offered) == set(profile_names())
    for name, codes in offered.items():
        profile = load_profile(name)
        expected = (
            default_service_rules().billed_codes if name == "il132" else profile.billable_labels
        )
        assert tuple(codes.split()) == tuple(expected)


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _batch(tmp_path: Path, rows: list[dict[str, object]], profile: str) -> tuple[list, dict]:
    source = _write(tmp_path / f"in-{profile}.csv", rows)
    out = tmp_path / f"out-{profile}.csv"
    summary = tmp_path / f"sum-{profile}.json"
    args = ["batch", str(source), "--out", str(out), "--summary", str(summary)]
    assert main([*args, "--no-ledger", "--quiet", "--profile", profile]) == 0
    with out.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle)), json.loads(summary.read_text())


def test_batch_combines_same_day_short_contacts_only_under_the_csc(tmp_path):
    calls = TWO_SHORT_CALLS.split(" 1:30")
    rows = [
        {"note_id": "n1", "client_id": "c1", "service_date": "2026-11-02", "text": calls[0]},
        {"note_id": "n2", "client_id": "c1", "service_date": "2026-11-02",
         "text": "1:30" + calls[1]},
    ]  # fmt: skip
    out, summary = _batch(tmp_path, rows, "csc")
    assert [r["label"] for r in out] == ["NON-BILLABLE", "NON-BILLABLE"]
    assert [f["kind"] for f in summary["limits"]] == ["same_day_combined"]
    assert summary["limits"][0]["units"] == 1
    assert all(r["limit_status"] == "same_day_combined: 1 unit(s)" for r in out)
    out, summary = _batch(tmp_path, rows, "il132")
    assert [r["label"] for r in out] == ["CM-MH", "CM-MH"]
    assert summary["limits"] == []


def test_batch_enforces_the_oklahoma_daily_and_monthly_unit_limits(tmp_path):
    visit = "Met w/ mbr at her apt and linked her to the county housing authority for a voucher."
    rows = [
        {"note_id": f"n{i}", "client_id": "c9", "service_date": day, "minutes": minutes,
         "billed_code": "T1017", "modifier": "HE HN", "text": visit}
        for i, (day, minutes) in enumerate(
            [("2026-11-03", 120), ("2026-11-03", 120), ("2026-11-03", 60), ("2026-11-04", 120)]
        )
    ]  # fmt: skip
    out, summary = _batch(tmp_path, rows, "ok-t1017")
    kinds = sorted((f["kind"], f["period"], f["units"]) for f in summary["limits"])
    assert kinds == [
        ("daily_limit_exceeded", "2026-11-03", 20),
        ("monthly_limit_exceeded", "2026-11", 28),
    ]
    assert out[0]["limit_status"].startswith("daily_limit_exceeded: 20 of 16 units")


def test_a_version_2_ledger_is_migrated_with_every_row_under_illinois(tmp_path):
    path = tmp_path / "v2.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE notes (note_key TEXT PRIMARY KEY, note_id TEXT, client_id TEXT, "
        "staff_id TEXT, service_date TEXT, year INTEGER, start_min INTEGER, end_min INTEGER, "
        "minutes REAL, billed_code TEXT, predicted_label TEXT, cap_code TEXT, scored_at TEXT);"
        "INSERT INTO notes VALUES ('id:c1\x1f7', '7', 'c1', 's1', '2026-11-02', 2026, 540, 600,"
        " 60, 'CM-MH', 'CM-MH', 'CM-MH', '');"
        "PRAGMA user_version = 2;"
    )
    conn.close()
    migrated = open_ledger(path)
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == LEDGER_VERSION == 3
    assert migrated.execute("SELECT profile, modifier, billable_minutes FROM notes").fetchall() == [
        ("il132", None, None)
    ]


def test_the_default_profile_follows_the_environment_at_each_call(monkeypatch):
    assert load_profile().name == "il132"
    monkeypatch.setenv("NOTECHECK_PROFILE", "csc")
    assert load_profile().name == "csc"
    monkeypatch.delenv("NOTECHECK_PROFILE")
    assert load_profile().name == "il132"
