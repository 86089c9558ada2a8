from __future__ import annotations

import contextlib
import json
import logging

import pytest
from fastapi.testclient import TestClient

from notecheck.api import create_app
from notecheck.api.settings import Settings

NOTE = "Clt called tearful after fight with partner; used grounding skills with CM. 20 min"
SECRET_NOTE = "Zephyrine Quillfeather was driven to the pharmacy by writer"


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(Settings(max_text_chars=5000, max_batch=5), engine=engine)) as c:
        yield c


@pytest.fixture(scope="module")
def keyed_client(engine):
    app = create_app(Settings(api_keys=("k-one", "k-two")), engine=engine)
    with TestClient(app) as c:
        yield c


def post(client, path, body, **headers):
    return client.post(
        path, content=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )


def test_check_returns_result_contract_with_note_id(client):
    r = post(client, "/v1/check", {"text": NOTE, "note_id": "A-17", "billed_code": "CS-IND"})
    assert r.status_code == 200
    data = r.json()
    assert data["label"] == "CS-IND" and data["note_id"] == "A-17"
    assert data["billed_code_matches"] is True
    assert data["model_version"].startswith("il132-") and data["ruleset_version"]
    assert r.headers["X-Request-ID"]


def test_check_returns_sections_activities_and_time(client):
    text = (
        "Goal: clt keeps SNAP with CM advocacy.\nD: Met clt at DHS 9:00-11:15. Waited in the lobby "
        "approx 90 min. CM advocated with the caseworker to expedite her SNAP."
    )
    r = post(client, "/v1/check", {"text": text, "minutes": 135})
    assert r.status_code == 200
    data = r.json()
    assert [s["kind"] for s in data["sections"]] == ["goal", "activity"]
    assert any(a["kind"] == "non-billable" and a["minutes"] == 90 for a in data["activities"])
    assert data["time"]["units_supported"] == 3 and data["time"]["units_at_risk"] == 6
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"Section", "Activity", "TimeBreakdown"} <= set(schema)


def test_batch_keeps_order_and_reports_bad_items_in_place(client):
    notes = [
        {"text": "CM left VM for landlord.", "note_id": "1"},
        {"text": 12, "note_id": "2"},
        {"text": "x" * 5001, "note_id": "3"},
        {"text": NOTE, "note_id": "4", "billed_code": "ZZ"},
        {
            "text": "Phone consult with clt's psychiatrist re: med side effects; rec lower dose.",
            "note_id": "5",
        },
    ]
    r = post(client, "/v1/check/batch", {"notes": notes})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x.get("note_id") for x in results] == ["1", "2", "3", "4", "5"]
    assert results[0]["label"] == "NON-BILLABLE"
    assert results[1]["error"]["code"] == "invalid_request" and results[1]["index"] == 1
    assert results[2]["error"]["code"] == "text_too_long"
    assert results[3]["error"]["code"] == "unknown_billed_code"
    assert results[4]["label"] == "CM-CCC"


def test_batch_items_that_are_not_objects_get_error_entries(client):
    r = post(client, "/v1/check/batch", {"notes": ["just a string", None, {"text": "Faxed ROI"}]})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x.get("error", {}).get("code") for x in results[:2]] == ["invalid_request"] * 2
    assert results[2]["label"] == "NON-BILLABLE"


def test_batch_over_the_limit_is_413(client):
    r = post(client, "/v1/check/batch", {"notes": [{"text": "Faxed ROI"}] * 6})
    assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"text": "x" * 5001}, 413, "text_too_long"),
        ({"text": ""}, 422, "empty_text"),
        ({"text": "a\x00b"}, 422, "binary_content"),
        ({"text": 5}, 422, "invalid_request"),
        ({"text": "Faxed ROI", "billed_code": "T1017"}, 422, "unknown_billed_code"),
        ({"text": "Faxed ROI", "minutes": -1}, 422, "invalid_request"),
        ({"text": "Faxed ROI", "staff_level": "intern"}, 422, "unknown_staff_level"),
        ({"text": "Faxed ROI", "staff_level": 3}, 422, "invalid_request"),
        ({"text": "Faxed ROI", "colour": "red"}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
        ({"notes": []}, 422, "invalid_request"),
    ],
)
def test_bad_input_gets_one_error_shape(client, body, status, code):
    r = post(client, "/v1/check", body)
    assert r.status_code == status
    assert r.json() == {"error": {"code": code, "message": r.json()["error"]["message"]}}
    assert "x" * 50 not in r.text


def test_malformed_json_is_422(client):
    r = client.post("/v1/check", content=b'{"text": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "malformed_json"


def test_wrong_content_type_is_415(client):
    r = client.post(
        "/v1/check",
        content=b"text=hello",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"


def test_oversized_body_is_413(engine):
    app = create_app(Settings(max_body_bytes=100), engine=engine)
    with TestClient(app) as c:
        r = post(c, "/v1/check", {"text": "y" * 200})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_unknown_route_uses_error_shape(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_labels_and_rules(client):
    labels = client.get("/v1/labels").json()
    assert [x["code"] for x in labels] == ["CM-MH", "CS-IND", "CM-TLA", "CM-CCC", "NON-BILLABLE"]
    rules = client.get("/v1/rules").json()
    assert len(rules["rules"]) >= 40 and all(r["citations"] for r in rules["rules"])


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {
        "status": "ok",
        "model_version": None,
        "ruleset_version": None,
    }
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_readyz_is_503_when_the_model_cannot_load(tmp_path):
    app = create_app(Settings(model_dir=str(tmp_path)))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and "model file missing" in r.json()["error"]["message"]
        r = post(c, "/v1/check", {"text": NOTE})
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"


def test_auth_required_when_keys_are_configured(keyed_client):
    assert post(keyed_client, "/v1/check", {"text": NOTE}).status_code == 401
    assert (
        post(keyed_client, "/v1/check", {"text": NOTE}, **{"X-API-Key": "wrong"}).status_code == 401
    )
    assert keyed_client.get("/v1/labels").status_code == 401
    r = post(keyed_client, "/v1/check", {"text": NOTE}, **{"X-API-Key": "k-two"})
    assert r.status_code == 200
    assert keyed_client.get("/v1/labels", headers={"X-API-Key": "k-one"}).status_code == 200
    assert keyed_client.get("/healthz").status_code == 200  # probes stay open


def test_no_auth_when_no_keys(client):
    assert client.get("/v1/labels").status_code == 200


def test_request_log_has_one_line_per_request_and_never_the_note(client, caplog):
    with caplog.at_level(logging.INFO, logger="notecheck.api"):
        r = post(client, "/v1/check", {"text": SECRET_NOTE})
        post(client, "/v1/check", {"text": SECRET_NOTE, "billed_code": "BAD"})
    assert r.status_code == 200
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "notecheck.api"]
    assert len(lines) == 2
    assert lines[0]["route"] == "/v1/check" and lines[0]["status"] == 200
    assert lines[0]["text_length"] == len(SECRET_NOTE) and lines[0]["latency_ms"] >= 0
    assert lines[1]["status"] == 422
    everything = caplog.text
    assert "Zephyrine" not in everything and "Quillfeather" not in everything


def test_reviewer_page_is_served_without_external_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and '<label for="note">' in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "notecheck"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text and "https://" not in docs.text


def test_an_app_without_keys_answers_only_clients_on_its_own_machine(engine):
    # The guard lives in the app, so an app started by plain uvicorn on 0.0.0.0 is covered.
    app = create_app(Settings(), engine=engine)
    with TestClient(app, client=("203.0.113.9", 50123)) as remote:
        r = post(remote, "/v1/check", {"text": NOTE})
        assert r.status_code == 403 and r.json()["error"]["code"] == "keys_required"
        assert remote.get("/").status_code == 403
        assert remote.get("/healthz").status_code == 200  # probes carry no PHI
    for local in (("127.0.0.1", 50123), ("::1", 50123)):
        with TestClient(app, client=local) as c:
            assert post(c, "/v1/check", {"text": NOTE}).status_code == 200
    keyed = create_app(Settings(api_keys=("k-one-sixteen-chars",)), engine=engine)
    with TestClient(keyed, client=("203.0.113.9", 50123)) as remote:
        r = post(remote, "/v1/check", {"text": NOTE}, **{"X-API-Key": "k-one-sixteen-chars"})
        assert r.status_code == 200


def test_serve_refuses_public_bind_without_keys(monkeypatch):
    from notecheck.api.server import serve

    monkeypatch.delenv("NOTECHECK_API_KEYS", raising=False)
    assert serve(host="0.0.0.0", port=1) == 2


def test_every_rule_fired_carries_its_readable_source(client):
    r = post(client, "/v1/check", {"text": "Drove clt to the DHS office and waited 40 min."})
    assert r.status_code == 200
    fired = {f["rule_id"]: f for f in r.json()["rules_fired"]}
    assert fired["transport.waiting"]["source"] == "Illinois, Rule 132 Q&A, question 8 (line 131)"
    assert all(f["source"].startswith("Illinois, ") for f in fired.values())


def test_staff_level_adds_the_q61_check_in_check_and_batch(client):
    tla = "Met w/ clt and the unit SW to plan his d/c to the Elm St CILA on 5/2. 40 min."
    one = post(client, "/v1/check", {"text": tla, "staff_level": "RSA"}).json()
    (staff,) = [c for c in one["documentation"] if c["check"] == "staff_qualified"]
    assert one["label"] == "CM-TLA" and staff["status"] == "fail" and "Q61" in staff["detail"]
    many = post(
        client,
        "/v1/check/batch",
        {"notes": [{"text": tla, "staff_level": "MHP"}, {"text": tla, "staff_level": "??"}]},
    ).json()["results"]
    (ok,) = [c for c in many[0]["documentation"] if c["check"] == "staff_qualified"]
    assert ok["status"] == "pass" and many[1]["error"]["code"] == "unknown_staff_level"


def test_a_lone_surrogate_note_id_in_a_batch_is_an_item_error_not_a_500(client):
    body = (
        b'{"notes":[{"text":"Faxed ROI","note_id":"\\ud800"},{"text":"Faxed ROI","note_id":"b"}]}'
    )
    r = client.post("/v1/check/batch", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    first, second = r.json()["results"]
    assert first["error"]["code"] == "invalid_request" and first["note_id"] is None
    assert second["note_id"] == "b" and second["label"] == "NON-BILLABLE"


def test_405_says_which_methods_are_allowed(client):
    r = client.put("/v1/check", json={"text": "Faxed ROI"})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_only_the_page_assets_are_served_and_responses_carry_security_headers(client):
    assert client.get("/static/__init__.py").status_code == 404
    assert client.get("/static/app.js").status_code == 200
    page = client.get("/")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_readyz_says_what_went_wrong_but_not_where_the_model_lives(tmp_path):
    with TestClient(create_app(Settings(model_dir=str(tmp_path)))) as c:
        message = c.get("/readyz").json()["error"]["message"]
    assert "model file missing" in message and str(tmp_path) not in message


def test_short_api_keys_are_refused_at_start_up_without_echoing_them(monkeypatch):
    monkeypatch.setenv("NOTECHECK_API_KEYS", "a,0123456789abcdef0123")
    with pytest.raises(ValueError) as info:
        Settings.from_env()
    assert "1 key(s) shorter than 16" in str(info.value) and ",0123" not in str(info.value)
    monkeypatch.setenv("NOTECHECK_API_KEYS", "0123456789abcdef0123")
    assert Settings.from_env().api_keys == ("0123456789abcdef0123",)


def test_a_body_that_is_not_utf8_gets_the_documented_422(client):
    r = client.post(
        "/v1/check",
        content=b'{"text":"Faxed \xff ROI"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "malformed_json"


def test_without_a_key_the_body_is_never_read_and_the_docs_are_closed(keyed_client):
    reads = {"n": 0}

    def body():  # a streamed (chunked) body: counts how much of it the server pulls
        for _ in range(1000):
            reads["n"] += 1
            yield b"x" * 65536

    r = keyed_client.post("/v1/check", content=body(), headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert reads["n"] <= 2  # 64 MB offered; at most the first chunk was touched
    for path in ("/docs", "/openapi.json"):
        assert keyed_client.get(path).status_code == 401
        assert keyed_client.get(path, headers={"X-API-Key": "k-one"}).status_code == 200
    assert keyed_client.get("/").status_code == 200  # the page itself sends the key per call


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(engine):
    app = create_app(
        Settings(api_keys=("0123456789abcdef",), max_body_bytes=1_000_000), engine=engine
    )

    def body():  # no Content-Length: only counting the stream can stop it
        for _ in range(200):
            yield b"x" * 65536

    with TestClient(app) as c:
        r = c.post(
            "/v1/check",
            content=body(),
            headers={"Content-Type": "application/json", "X-API-Key": "0123456789abcdef"},
        )
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
        ok = post(c, "/v1/check", {"text": NOTE}, **{"X-API-Key": "0123456789abcdef"})
        assert ok.status_code == 200


def test_a_body_that_stops_arriving_gets_408_after_the_timeout():
    import asyncio

    from notecheck.api.app import _BodyLimit

    async def app(scope, receive, send):  # an app that reads its whole body, as FastAPI does
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [{"type": "http.request", "body": b"{", "more_body": True}]

    async def receive():
        if chunks:
            return chunks.pop()
        await asyncio.sleep(3600)  # the client stops sending

    sent = []

    async def send(message):
        sent.append(message)

    async def run():
        limit = _BodyLimit(app, limit=1_000_000, timeout=0.2)
        await asyncio.wait_for(limit({"type": "http"}, receive, send), 5)

    asyncio.run(run())
    assert sent[0]["status"] == 408
    assert b"request_timeout" in sent[1]["body"]


def test_the_server_closes_idle_connections_and_caps_them(monkeypatch):
    import uvicorn

    from notecheck.api.server import serve

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.delenv("NOTECHECK_API_KEYS", raising=False)
    monkeypatch.setenv("NOTECHECK_MAX_CONNECTIONS", "50")
    assert serve(port=8999) == 0
    assert seen["timeout_keep_alive"] == 5 and seen["limit_concurrency"] == 50
    assert seen["host"] == "127.0.0.1" and seen["access_log"] is False


@contextlib.contextmanager
def live_server(app, settings):
    """A real uvicorn server on a free loopback port, with notecheck serve's options."""
    import socket
    import threading
    import time

    import uvicorn

    from notecheck.api.server import server_options

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", **server_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def seconds_until_closed(sock, send_forever=False):
    """Read (a response first, if any) until the server closes the socket."""
    import time

    sock.settimeout(0.2 if send_forever else 5)
    started = time.monotonic()
    received = b""
    while time.monotonic() - started < 5:
        try:
            if send_forever:
                sock.sendall(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        received += chunk
    return time.monotonic() - started, received


def test_idle_connections_are_closed_whether_or_not_they_sent_a_request(engine):
    import socket

    settings = Settings(keep_alive_seconds=1)
    with live_server(create_app(settings, engine=engine), settings) as port:
        silent = socket.create_connection(("127.0.0.1", port))  # never sends a byte
        used = socket.create_connection(("127.0.0.1", port))
        used.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert seconds_until_closed(silent)[0] < 3
        assert seconds_until_closed(used)[0] < 3
        silent.close()
        used.close()


def test_a_rejected_body_that_keeps_coming_has_its_connection_closed(engine, caplog):
    import socket

    key = "k" * 32
    settings = Settings(api_keys=(key,), keep_alive_seconds=1, max_body_bytes=100_000)
    head = "POST /v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\nX-Request-ID: Zebulon Quixote\r\n"
    with caplog.at_level(logging.INFO, logger="notecheck.api"):
        with live_server(create_app(settings, engine=engine), settings) as port:
            answers = {}
            for name, extra in (("no key", ""), ("over the limit", f"X-API-Key: {key}\r\n")):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall((head + extra + "\r\n").encode())
                seconds, received = seconds_until_closed(sock, send_forever=True)
                sock.close()
                answers[name] = (seconds, received.decode("latin-1"))
    assert answers["no key"][1].startswith("HTTP/1.1 401") and answers["no key"][0] < 3
    assert answers["over the limit"][1].startswith("HTTP/1.1 413")
    assert answers["over the limit"][0] < 3
    for _, response in answers.values():
        headers = response.lower()
        assert "x-content-type-options: nosniff" in headers and "connection: close" in headers
        assert "zebulon" not in headers  # a free-text request id is replaced, not echoed
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "notecheck.api"]
    assert sorted(line["status"] for line in logged) == [401, 413]
    assert "Zebulon" not in caplog.text


class SlowEngine:
    """The real engine, 50 ms per note: a large batch is slow, a single check is not."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def check_many(self, notes, **kw):
        import time

        notes = list(notes)
        time.sleep(0.05 * len(notes))
        return self._inner.check_many(notes, **kw)


def test_a_single_check_is_not_held_behind_a_large_batch(engine):
    import threading
    import time

    app = create_app(Settings(max_batch=100), engine=SlowEngine(engine))  # type: ignore[arg-type]
    with TestClient(app) as c:
        done = {}

        def run_batch():
            post(c, "/v1/check/batch", {"notes": [{"text": NOTE}] * 60})  # about 3 s of work
            done["batch"] = time.perf_counter()

        worker = threading.Thread(target=run_batch)
        worker.start()
        time.sleep(0.5)  # the batch is under way
        started = time.perf_counter()
        r = post(c, "/v1/check", {"text": NOTE})
        done["single"] = time.perf_counter()
        worker.join()
    assert r.status_code == 200
    assert done["single"] - started < 1.5  # waits for one chunk of the batch, not all of it
    assert done["single"] < done["batch"]


def test_readiness_says_busy_while_a_large_batch_saturates_the_engine(engine):
    import threading
    import time

    limit = 20 * len(NOTE)
    settings = Settings(max_batch=100, ready_max_queued_chars=limit)
    app = create_app(settings, engine=SlowEngine(engine))  # type: ignore[arg-type]
    with TestClient(app) as c:
        assert c.get("/readyz").status_code == 200
        worker = threading.Thread(
            target=post, args=(c, "/v1/check/batch", {"notes": [{"text": NOTE}] * 60})
        )
        worker.start()
        time.sleep(0.5)  # 60 notes queued, about 3 s of work
        busy = c.get("/readyz")
        assert c.get("/healthz").status_code == 200  # alive all along
        worker.join()
        after = c.get("/readyz")
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
    assert after.status_code == 200  # the queue drained: ready again
    assert app.state.engine_gate.queued_chars == 0


def test_the_server_log_withholds_tracebacks_that_could_quote_a_note():
    import io
    import logging.config

    from notecheck.api.server import log_config

    config = log_config()
    stream = io.StringIO()
    config["handlers"]["default"]["stream"] = stream
    config["handlers"]["default"].pop("class")
    config["handlers"]["default"]["()"] = lambda stream: logging.StreamHandler(stream)
    logging.config.dictConfig(config)
    try:
        raise ValueError("could not parse: Clt Maria Lopez, DOB 3/4/81, disclosed SI")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logged = stream.getvalue()
    assert "Exception in ASGI application" in logged and "ValueError" in logged
    assert "Maria Lopez" not in logged and "Traceback" not in logged


def test_errors_and_logs_never_echo_a_submitted_key_or_path(client, caplog):
    with caplog.at_level(logging.INFO, logger="notecheck.api"):
        single = post(client, "/v1/check", {"text": NOTE, "Zephyrine Quillfeather": 1})
        batch = post(client, "/v1/check/batch", {"notes": [{"text": NOTE, "Zephyrine Q": 2}]})
        missing = client.get("/v1/Zephyrine-Quillfeather")
    assert single.status_code == 422 and "(unknown field)" in single.json()["error"]["message"]
    assert batch.status_code == 200 and "(unknown field)" in batch.text
    assert missing.status_code == 404
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "notecheck.api"]
    assert logged[-1]["route"] == "(no route)" and logged[-1]["status"] == 404
    for text in (single.text, batch.text, missing.text, caplog.text):
        assert "Zephyrine" not in text
    missing_text = post(client, "/v1/check", {"billed_code": "CM-MH"})
    assert missing_text.json()["error"]["message"] == "text: Field required"  # schema names stay


def test_the_openapi_minutes_range_is_the_engines(client):
    from notecheck.engine import MAX_MINUTES

    schema = client.get("/openapi.json").json()["components"]["schemas"]["CheckRequest"]
    minutes = schema["properties"]["minutes"]["anyOf"]
    bounds = {k: v for option in minutes for k, v in option.items() if "imum" in k}
    assert bounds == {"exclusiveMinimum": 0, "maximum": MAX_MINUTES}
    assert post(client, "/v1/check", {"text": NOTE, "minutes": MAX_MINUTES}).status_code == 200
    assert post(client, "/v1/check", {"text": NOTE, "minutes": MAX_MINUTES + 1}).status_code == 422


def test_serve_runs_one_worker_per_cpu_by_default_and_refuses_zero(monkeypatch):
    import os
    import pickle

    import uvicorn

    from notecheck.api import server

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.delenv("NOTECHECK_API_KEYS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert server.default_workers() == 3
    assert server.serve(port=8999) == 0 and seen["workers"] == 3
    # Uvicorn pickles its configuration for each worker process.
    assert pickle.loads(pickle.dumps(seen["http"])) is server.IdleClosingProtocol
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert server.default_workers() == server.MAX_DEFAULT_WORKERS
    assert server.serve(port=8999, workers=1) == 0 and seen["workers"] == 1
    seen.clear()
    assert server.serve(port=8999, workers=0) == 2 and not seen
