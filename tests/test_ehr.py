"""EHR integration: CDS Hooks cards, FHIR R4 DocumentReference/Bundle/NDJSON input, API conventions."""

from __future__ import annotations

import base64
import csv
import json
import logging
import uuid

import pytest
from fastapi.testclient import TestClient

from notecheck.api import create_app
from notecheck.api.settings import Settings
from notecheck.catalog import CatalogError
from notecheck.cli import main
from notecheck.engine import Engine
from notecheck.fhir import FhirError, html_to_text, read_document_reference

KEY = "k" * 24
AUTH = {"Authorization": f"Bearer {KEY}"}
TRANSPORT_ONLY = (
    "Picked up Marisol at her apt and transported clt to the Walgreens on Main (25 min). "
    "Waited in the car while she got her refill (20 min). Drove her home (25 min)."
)
ADVOCACY = (
    "CM called the DHS caseworker 9:00-9:30 and advocated for clt's SNAP recert; the worker "
    "moved the interview to Friday. Goal 2: clt keeps her benefits."
)


def document_reference(text: str, *, code: str | None = None, content_type: str = "text/plain"):
    resource = {
        "resourceType": "DocumentReference",
        "id": "note-77",
        "status": "current",
        "subject": {"reference": "Patient/1288992"},
        "author": [{"reference": "Practitioner/example"}],
        "date": "2026-11-20T13:05:00Z",
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                }
            }
        ],
    }
    if code:
        resource["context"] = {"event": [{"coding": [{"code": code}]}]}
    return resource


def hook_request(note, **context):
    """The specification's own example request shape, carrying the note in prefetch."""
    return {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "http://hooks.smarthealthit.org:9080",
        "hook": "note-sign",
        "fhirAuthorization": {
            "access_token": "some-opaque-fhir-access-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/DocumentReference.read",
            "subject": "cds-service4",
        },
        "context": {"userId": "Practitioner/example", "patientId": "1288992", **context},
        "prefetch": {"note": note},
    }


def assert_valid_cards(cards):
    """The specification's card rules: required fields, indicator values, summary length."""
    for card in cards:
        assert set(card) >= {"summary", "indicator", "source"}
        assert card["indicator"] in ("info", "warning", "critical")
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
        assert card["source"]["label"].startswith("notecheck")
        assert uuid.UUID(card["uuid"])
        assert isinstance(card.get("detail", ""), str)


@pytest.fixture(scope="module")
def client(engine):
    settings = Settings(api_keys=(KEY,), cors_origins=("https://ehr.example",))
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_discovery_lists_the_note_review_service(client):
    assert client.get("/cds-services").status_code == 401
    (service,) = client.get("/cds-services", headers=AUTH).json()["services"]
    assert service["id"] == "notecheck-note-review"
    assert service["hook"] == "note-sign"
    assert service["description"] and service["prefetch"]


def test_a_transport_only_note_gets_a_critical_card_quoting_only_evidence(client, caplog):
    with caplog.at_level(logging.INFO, logger="notecheck.api"):
        response = client.post(
            "/cds-services/notecheck-note-review",
            json=hook_request(document_reference(TRANSPORT_ONLY)),
            headers=AUTH,
        )
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert_valid_cards(cards)
    assert cards[0]["indicator"] == "critical"
    assert "transported clt" in cards[0]["detail"]
    assert "(il132)" in cards[0]["source"]["label"]
    everything = json.dumps(cards)
    assert "Marisol" not in everything and "Walgreens" not in everything
    assert "Marisol" not in caplog.text and "Walgreens" not in caplog.text


def test_a_billable_note_billed_as_another_code_gets_a_warning(client):
    request = hook_request(document_reference(ADVOCACY), billedCode="CS-IND")
    cards = client.post("/cds-services/notecheck-note-review", json=request, headers=AUTH).json()[
        "cards"
    ]
    assert_valid_cards(cards)
    assert [c["indicator"] for c in cards] == ["warning"]
    assert cards[0]["summary"] == "Billed as CS-IND; the note supports CM-MH."


def test_the_note_may_come_in_context_and_the_profile_with_it(client):
    request = hook_request(None, draftNote=document_reference(ADVOCACY), profile="ok-t1017")
    request.pop("prefetch")
    cards = client.post("/cds-services/notecheck-note-review", json=request, headers=AUTH).json()[
        "cards"
    ]
    assert_valid_cards(cards)
    assert all("(ok-t1017)" in c["source"]["label"] for c in cards)
    assert "critical" not in {c["indicator"] for c in cards}


@pytest.mark.parametrize(
    "path, body, status, code",
    [
        ("/cds-services/notecheck-note-review", {"hook": "note-sign", "hookInstance": "x", "context": {}}, 412, "missing_note"),
        ("/cds-services/other", hook_request(document_reference(ADVOCACY)), 404, "unknown_service"),
        ("/cds-services/notecheck-note-review", {**hook_request(document_reference(ADVOCACY)), "hook": "patient-view"}, 422, "unsupported_hook"),
        ("/cds-services/notecheck-note-review", hook_request(document_reference("x", content_type="application/pdf")), 422, "unsupported_attachment"),
    ],
)  # fmt: skip
def test_hook_calls_that_cannot_be_answered_say_why(client, path, body, status, code):
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_fhir_document_reference_plain_and_html(client):
    plain = client.post(
        "/v1/check/fhir", json=document_reference(TRANSPORT_ONLY, code="CM-MH"), headers=AUTH
    ).json()
    assert (plain["label"], plain["billed_code"], plain["note_id"]) == (
        "NON-BILLABLE",
        "CM-MH",
        "note-77",
    )
    markup = "<div><p>CM called the DHS caseworker 9:00-9:30 and <b>advocated</b> for SNAP.</p><script>alert(1)</script></div>"
    html = client.post(
        "/v1/check/fhir",
        content=json.dumps(document_reference(markup, content_type="text/html")),
        headers={**AUTH, "Content-Type": "application/fhir+json"},
    ).json()
    assert html["label"] == "CM-MH"
    assert "advocated" in {e["text"] for e in html["evidence"]}


def test_a_fhir_bundle_answers_every_entry_in_order(client):
    broken = document_reference(ADVOCACY)
    broken["content"][0]["attachment"]["data"] = "!!! not base64"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": document_reference(ADVOCACY)},
            {"resource": document_reference("x", content_type="application/pdf")},
            {"resource": broken},
            {"resource": {"resourceType": "Patient", "id": "p1"}},
        ],
    }
    results = client.post("/v1/check/fhir", json=bundle, headers=AUTH).json()["results"]
    assert len(results) == 3  # the Patient is not a note
    assert results[0]["label"] == "CM-MH"
    assert results[1]["error"]["code"] == "unsupported_attachment"
    assert results[2]["error"]["code"] == "invalid_fhir"
    assert "not base64" not in json.dumps(results)  # values are never echoed


def test_malformed_fhir_is_refused_with_the_field_not_the_value():
    with pytest.raises(FhirError, match="content") as caught:
        read_document_reference(
            {"resourceType": "DocumentReference", "status": "current", "content": "Marisol"}
        )
    assert "Marisol" not in caught.value.message
    assert html_to_text("<p>a &amp; b</p><ul><li>c</li></ul>") == "a & b\n\nc"


def test_batch_reads_fhir_ndjson(tmp_path):
    lines = [
        document_reference(TRANSPORT_ONLY, code="CM-MH"),
        document_reference("x", content_type="image/png"),
        {"resourceType": "Patient", "id": "p1"},
    ]
    source = tmp_path / "DocumentReference.ndjson"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    args = ["batch", str(source), "--out", str(out), "--no-ledger", "--quiet", "--allow-errors"]
    assert main(args) == 0
    with out.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["ok", "error", "error"]
    assert (rows[0]["note_id"], rows[0]["client_id"], rows[0]["service_date"]) == (
        "note-77",
        "Patient/1288992",
        "2026-11-20",
    )
    assert (rows[0]["billed_code"], rows[0]["label"]) == ("CM-MH", "NON-BILLABLE")
    assert rows[1]["error"].startswith("unsupported_attachment")


def test_keys_come_as_x_api_key_or_bearer(client):
    body = {"text": ADVOCACY}
    assert client.post("/v1/check", json=body, headers={"X-API-Key": KEY}).status_code == 200
    assert client.post("/v1/check", json=body, headers=AUTH).status_code == 200
    wrong = client.post("/v1/check", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "Bearer" in wrong.json()["error"]["message"]


def test_openapi_declares_both_key_schemes_and_the_label_enum(client):
    schema = client.get("/openapi.json", headers=AUTH).json()
    assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    label = schema["components"]["schemas"]["CheckResponse"]["properties"]["label"]
    assert {"CM-MH", "NON-BILLABLE", "T1017", "TCM", "CM"} <= set(label["enum"])
    assert "/v1/check/fhir" in schema["paths"]


def test_cors_answers_configured_origins_only(client, engine):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = client.options("/v1/check", headers={"Origin": "https://ehr.example", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "https://ehr.example"
    other = client.options("/v1/check", headers={"Origin": "https://other.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    with TestClient(create_app(Settings(api_keys=(KEY,)), engine=engine)) as plain:
        answer = plain.post(
            "/v1/check", json={"text": ADVOCACY}, headers={"Origin": "https://ehr.example", **AUTH}
        )
        assert "access-control-allow-origin" not in answer.headers


def test_codes_ehrs_send_are_mapped_through_a_site_table(tmp_path, monkeypatch, engine):
    table = tmp_path / "codes.toml"
    table.write_text('[il132]\n"H2017" = "CS-IND"\n"cm local 12" = "CM-MH"\n', encoding="utf-8")
    monkeypatch.setenv("NOTECHECK_BILLED_CODES", str(table))
    mapped = Engine(model=engine.model)
    assert mapped.check(ADVOCACY, billed_code="h2017").billed_code == "CS-IND"
    assert mapped.check(ADVOCACY, billed_code="CM Local 12").billed_code_matches is True
    table.write_text('[il132]\n"X1" = "NON-BILLABLE"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="X1"):
        Engine(model=engine.model)
