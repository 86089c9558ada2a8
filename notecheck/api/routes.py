"""Routers: one per resource. A route validates, calls the engine, returns a schema."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from notecheck.api.errors import ApiError, error_response, field_path
from notecheck.api.schemas import (
    SCHEMA_FIELDS,
    BatchItemError,
    BatchRequest,
    BatchResponse,
    CheckRequest,
    CheckResponse,
    ErrorBody,
    ErrorResponse,
    Health,
    LabelOut,
    ProfileOut,
    RulesResponse,
    is_utf8,
)
from notecheck.engine import CheckError, Engine, InputError
from notecheck.fhir import (
    FhirError,
    FhirNote,
    billed_code_of,
    document_references,
    read_document_reference,
)
from notecheck.profiles import load_profile, profile_names

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        401: "Missing or wrong X-API-Key (only when NOTECHECK_API_KEYS is set)",
        413: "Text, batch or body over the configured limit",
        415: "Body is not application/json",
        422: "Malformed JSON, wrong types, empty or binary text, unknown billed_code",
        503: "Model not loaded",
    }.items()
}


UNAUTHORIZED = "a valid API key is required (X-API-Key header or Authorization: Bearer)"

#: Notes checked per hold of the engine lock in a batch request.
BATCH_CHUNK = 8


def key_matches(keys: tuple[str, ...], given: str | None) -> bool:
    """Whether ``given`` is one of ``keys`` (constant-time; every key is compared)."""
    supplied = (given or "").encode()
    matched = False
    for key in keys:  # compare against every key so timing does not reveal which one is close
        matched |= hmac.compare_digest(supplied, key.encode())
    return matched


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries: ``X-API-Key``, else ``Authorization: Bearer <key>``."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


# Declared as security schemes so the OpenAPI document (and /docs' Authorize button) shows
# both ways to send the key; the app's middleware enforces them before the body is read.
_API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")
_BEARER = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def require_api_key(
    request: Request,
    _header: Annotated[str | None, Security(_API_KEY_HEADER)] = None,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> None:
    """When API keys are configured, the request must carry one of them (constant-time compare).

    The app's middleware checks the key before the body is read; this dependency documents the
    schemes in the OpenAPI schema and guards routes mounted without that middleware.
    """
    keys = request.app.state.settings.api_keys
    if keys and not key_matches(keys, presented_key(request.headers)):
        raise ApiError(401, "unauthorized", UNAUTHORIZED)


def _known_profile(name: str) -> str:
    """``name`` if a shipped profile has it; else the API's 422 (the name sent is not echoed)."""
    if name not in profile_names():
        raise ApiError(
            422, "unknown_profile", f"unknown profile; expected one of {', '.join(profile_names())}"
        )
    return name


def engine_for(request: Request, profile: str | None = None) -> Engine:
    """The engine of ``profile`` (default: the server's), built on first use.

    A profile that borrows the default engine's model shares the loaded model, so a new
    profile costs its rules, not a second copy of the model.
    """
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise ApiError(503, "model_unavailable", "the model is not loaded; see /readyz")
    name = profile or request.app.state.settings.profile
    if name == engine.profile.name:
        return engine
    _known_profile(name)
    engines: dict[str, Engine] = request.app.state.profile_engines
    found = engines.get(name)
    if found is None:
        with request.app.state.profile_lock:
            found = engines.get(name)
            if found is None:
                shared = (
                    engine.model
                    if load_profile(name).model_name == engine.profile.model_name
                    else None
                )
                found = engines[name] = Engine(
                    request.app.state.settings.model_dir, profile=name, model=shared
                )
    return found


def _input_error(exc: InputError | CheckError) -> tuple[int, str, str]:
    status = 413 if exc.code == "text_too_long" else 422
    return status, exc.code, exc.message


health_router = APIRouter(tags=["health"])
meta_router = APIRouter(
    prefix="/v1",
    tags=["catalog"],
    dependencies=[Depends(require_api_key)],
    responses=ERROR_RESPONSES,
)
check_router = APIRouter(
    prefix="/v1", tags=["check"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES
)
web_router = APIRouter(include_in_schema=False)


@health_router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@health_router.get("/readyz", response_model=Health, responses={503: {"model": ErrorResponse}})
def readyz(request: Request) -> Health | JSONResponse:
    """Readiness: the model is loaded and verified, and the engine is not saturated."""
    engine = request.app.state.engine
    if engine is None:
        reason = request.app.state.model_error or "model not loaded yet"
        return error_response(503, "not_ready", reason)
    queued = request.app.state.engine_gate.queued_chars
    if queued > request.app.state.settings.ready_max_queued_chars:
        # Saturated: alive and correct, but new work would wait; send it elsewhere for now.
        return error_response(
            503, "busy", f"{queued} characters of notes are waiting for the engine"
        )
    return Health(
        status="ready", model_version=engine.model_version, ruleset_version=engine.ruleset_version
    )


@meta_router.get("/profiles", response_model=list[ProfileOut])
def profiles() -> list[ProfileOut]:
    """The rule profiles (jurisdictions): labels, units, sources, model, what each leaves out."""
    return [ProfileOut.model_validate(load_profile(name).summary()) for name in profile_names()]


@meta_router.get("/labels", response_model=list[LabelOut])
def labels(request: Request, profile: str | None = None) -> list[LabelOut]:
    """A profile's service codes (default: Illinois' five) with definitions and citations."""
    name = _known_profile(profile or request.app.state.settings.profile)
    return [
        LabelOut(code=i.code, name=i.name, definition=i.definition, citation=i.citation)
        for i in load_profile(name).labels
    ]


@meta_router.get("/rules", response_model=RulesResponse)
def rules(request: Request, profile: str | None = None) -> RulesResponse:
    """A profile's rule catalog (default: the server's), with citations."""
    return RulesResponse.model_validate(engine_for(request, profile).catalog.to_dict())


@check_router.post("/check", response_model=CheckResponse)
def check_note(body: CheckRequest, request: Request) -> dict[str, Any]:
    """Classify one note. Runs in the thread pool, so the event loop never blocks."""
    engine = engine_for(request, body.profile)
    request.state.text_length = len(body.text)
    limit = request.app.state.settings.max_text_chars
    if len(body.text) > limit:
        raise ApiError(413, "text_too_long", f"text over {limit} characters")
    gate = request.app.state.engine_gate
    try:
        with gate.queued(len(body.text)), gate.lock:
            result = engine.check(
                body.text,
                billed_code=body.billed_code,
                minutes=body.minutes,
                staff_level=body.staff_level,
            )
    except InputError as exc:
        raise ApiError(*_input_error(exc)) from None
    return {**result.to_dict(), "note_id": body.note_id}


@check_router.post("/check/batch", response_model=BatchResponse)
def check_batch(body: BatchRequest, request: Request) -> dict[str, Any]:
    """Classify up to NOTECHECK_MAX_BATCH notes; results come back in request order."""
    engine = engine_for(request, body.profile)
    settings = request.app.state.settings
    if len(body.notes) > settings.max_batch:
        raise ApiError(413, "batch_too_large", f"at most {settings.max_batch} notes per request")
    slots: list[dict[str, Any] | None] = [None] * len(body.notes)
    valid: list[tuple[int, CheckRequest]] = []
    total_chars = 0
    for i, raw in enumerate(body.notes):
        note_id = raw.get("note_id") if isinstance(raw, dict) else None
        note_id = note_id if isinstance(note_id, str) and is_utf8(note_id) else None
        try:
            item = CheckRequest.model_validate(raw)
        except ValidationError as exc:
            fields = ", ".join(
                field_path(e["loc"], SCHEMA_FIELDS).replace("body", "item")
                for e in exc.errors()[:3]
            )
            slots[i] = BatchItemError(
                note_id=note_id,
                index=i,
                error=ErrorBody(code="invalid_request", message=f"invalid field(s): {fields}"),
            ).model_dump()
            continue
        total_chars += len(item.text)
        if len(item.text) > settings.max_text_chars:
            slots[i] = BatchItemError(
                note_id=note_id,
                index=i,
                error=ErrorBody(
                    code="text_too_long", message=f"text over {settings.max_text_chars} characters"
                ),
            ).model_dump()
            continue
        valid.append((i, item))
    request.state.text_length = total_chars
    # Items naming another profile than the batch's are checked by that profile's engine.
    by_engine: dict[str, tuple[Engine, list[tuple[int, CheckRequest]]]] = {}
    for i, item in valid:
        try:
            item_engine = (
                engine
                if item.profile in (None, body.profile)
                else engine_for(request, item.profile)
            )
        except ApiError as exc:
            slots[i] = BatchItemError(
                note_id=item.note_id, index=i, error=ErrorBody(code=exc.code, message=exc.message)
            ).model_dump()
            continue
        by_engine.setdefault(item_engine.profile.name, (item_engine, []))[1].append((i, item))
    outcome_of: dict[int, Any] = {}
    gate = request.app.state.engine_gate
    # A few notes per turn of the engine lock: a single check waits for one chunk, not for the
    # whole batch (200 long notes used to hold every other check for two minutes).
    with gate.queued(total_chars) as done:
        for group_engine, group in by_engine.values():
            for start in range(0, len(group), BATCH_CHUNK):
                chunk = group[start : start + BATCH_CHUNK]
                items = [
                    {
                        "text": it.text,
                        "billed_code": it.billed_code,
                        "minutes": it.minutes,
                        "staff_level": it.staff_level,
                    }
                    for _, it in chunk
                ]
                with gate.lock:
                    outcomes = list(group_engine.check_many(items))
                outcome_of.update(zip((i for i, _ in chunk), outcomes, strict=True))
                done(sum(len(it.text) for _, it in chunk))
                # Python's lock is not fair: without a pause this thread takes it back at once.
                time.sleep(0.001)
    for i, item in valid:
        outcome = outcome_of.get(i)
        if outcome is None:
            continue  # its profile was refused above
        if isinstance(outcome, CheckError):
            slots[i] = BatchItemError(
                note_id=item.note_id,
                index=i,
                error=ErrorBody(code=outcome.code, message=outcome.message),
            ).model_dump()
        else:
            slots[i] = {**outcome.to_dict(), "note_id": item.note_id}
    return {
        "results": slots,
        "profile": engine.profile.name,
        "model_version": engine.model_version,
        "ruleset_version": engine.ruleset_version,
    }


@check_router.post(
    "/check/fhir",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/fhir+json": {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def check_fhir(
    request: Request, body: Annotated[dict[str, Any], Body()], profile: str | None = None
) -> dict[str, Any]:
    """Check a FHIR R4 DocumentReference (one result) or a Bundle of them (results in order).

    The note is the DocumentReference's inline text/plain or text/html attachment; the billed
    service is a ``context.event`` code the profile bills. A Bundle entry that cannot be read
    gets an error entry in its place.
    """
    engine = engine_for(request, profile)
    limit = request.app.state.settings.max_text_chars
    kind = body.get("resourceType")
    if kind not in ("DocumentReference", "Bundle"):
        raise ApiError(422, "invalid_fhir", "send a FHIR DocumentReference or Bundle")
    try:
        resources = [body] if kind == "DocumentReference" else list(document_references(body))
    except FhirError as exc:
        raise ApiError(422, exc.code, exc.message) from None
    if len(resources) > request.app.state.settings.max_batch:
        raise ApiError(413, "batch_too_large", "too many DocumentReference entries")
    slots: list[dict[str, Any] | None] = [None] * len(resources)
    items: list[tuple[int, FhirNote]] = []
    for i, resource in enumerate(resources):
        try:
            note = read_document_reference(resource)
        except FhirError as exc:
            if kind == "DocumentReference":
                raise ApiError(422, exc.code, exc.message) from None
            note_id = resource.get("id") if isinstance(resource.get("id"), str) else None
            slots[i] = {
                "index": i,
                "note_id": note_id,
                "error": {"code": exc.code, "message": exc.message},
            }
            continue
        if len(note.text) > limit:
            error = {"code": "text_too_long", "message": f"text over {limit} characters"}
            if kind == "DocumentReference":
                raise ApiError(413, **error)
            slots[i] = {"index": i, "note_id": note.note_id, "error": error}
            continue
        items.append((i, note))
    request.state.text_length = sum(len(n.text) for _, n in items)
    gate = request.app.state.engine_gate
    services = engine.services
    with gate.queued(request.state.text_length), gate.lock:
        outcomes = list(
            engine.check_many(
                [
                    {
                        "text": n.text,
                        "billed_code": billed_code_of(n, services.billed_codes, services.code_map),
                    }
                    for _, n in items
                ]
            )
        )
    for (i, note), outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, CheckError):
            if kind == "DocumentReference":
                raise ApiError(*_input_error(outcome))
            slots[i] = {
                "index": i,
                "note_id": note.note_id,
                "error": {"code": outcome.code, "message": outcome.message},
            }
        else:
            slots[i] = {**outcome.to_dict(), "note_id": note.note_id}
    if kind == "DocumentReference":
        assert slots[0] is not None
        return slots[0]
    return {
        "results": slots,
        "profile": engine.profile.name,
        "model_version": engine.model_version,
        "ruleset_version": engine.ruleset_version,
    }


@web_router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    """The reviewer page (plain HTML/CSS/JS, no CDN)."""
    page = resources.files("notecheck.web").joinpath("index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
