"""CDS Hooks: discovery and the note-review service an EHR calls when a note is signed.

The note arrives as a FHIR ``DocumentReference`` in the hook's ``context`` (``draftNote``) or in
``prefetch`` (any key; a Bundle holding one works too). The billed service is
``context.billedCode`` when the EHR sends it, else a ``context.event`` code of the
DocumentReference that names one; ``context.profile`` picks a rule profile. The answer is cards
(``notecheck.cards``); no note text is logged, and a card quotes only its evidence phrases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from notecheck.api.errors import ApiError
from notecheck.cards import cards_for
from notecheck.engine import InputError
from notecheck.fhir import (
    FhirError,
    FhirNote,
    billed_code_of,
    document_references,
    read_document_reference,
)
from notecheck.services import ServiceRules

SERVICE_ID = "notecheck-note-review"
# No hook in the CDS Hooks core fits signing a progress note; this one is defined here (README,
# "CDS Hooks") on the pattern of order-sign: the context carries the draft note.
HOOK = "note-sign"
SPEC_VERSION = "2.0"

DISCOVERY = {
    "services": [
        {
            "hook": HOOK,
            "id": SERVICE_ID,
            "title": "notecheck progress-note review",
            "description": (
                "Reviews a behavioral-health case-management progress note as it is signed: "
                "which Medicaid service it supports under the chosen rule profile (Illinois "
                "Rule 132 by default), or that it supports none, with the phrases and source "
                "passages behind it. Cards: critical for a note that supports no billable "
                "service, warning for a billed-code mismatch or units at risk, info for "
                "documentation gaps."
            ),
            "prefetch": {"note": "DocumentReference/{{context.documentReferenceId}}"},
            "usageRequirements": (
                "Send the note as a DocumentReference with a text/plain or text/html "
                "attachment inline (base64 data), in context.draftNote or prefetch.note; "
                "optionally context.billedCode and context.profile."
            ),
            "version": SPEC_VERSION,
        }
    ]
}


class HookRequest(BaseModel):
    """A CDS Hooks service call (the fields notecheck reads; others are allowed)."""

    model_config = ConfigDict(extra="allow")

    hook: StrictStr
    hookInstance: StrictStr = Field(max_length=200)  # noqa: N815 - the specification's name
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


def _the_note(request: HookRequest) -> FhirNote:
    """The note of a hook call, from context.draftNote, else the first prefetched one."""
    candidates: list[Any] = [request.context.get("draftNote")]
    candidates += list((request.prefetch or {}).values())
    for candidate in candidates:
        if not isinstance(candidate, Mapping):
            continue
        if candidate.get("resourceType") == "DocumentReference":
            return read_document_reference(candidate)
        if candidate.get("resourceType") == "Bundle":
            for resource in document_references(candidate):
                return read_document_reference(resource)
    raise ApiError(
        412,
        "missing_note",
        "no DocumentReference in context.draftNote or prefetch; send the note inline",
    )


def _billed_code(request: HookRequest, note: FhirNote, services: ServiceRules) -> str | None:
    """``context.billedCode``, else the first DocumentReference event code the profile bills."""
    sent = request.context.get("billedCode")
    if isinstance(sent, str) and sent.strip():
        return sent
    return billed_code_of(note, services.billed_codes, services.code_map)


def add_routes(require_key: Any, engine_of: Any) -> APIRouter:
    """The CDS Hooks routes, with the API's key check and its per-profile engines."""
    guarded = APIRouter(tags=["cds-hooks"], dependencies=[Depends(require_key)])

    @guarded.get("/cds-services")
    def discovery() -> dict[str, Any]:
        """CDS Hooks discovery: the services this server offers."""
        return DISCOVERY

    @guarded.post("/cds-services/{service_id}")
    def review(service_id: str, body: HookRequest, request: Request) -> dict[str, Any]:
        """CDS Hooks service call: cards for the signed note."""
        if service_id != SERVICE_ID:
            raise ApiError(404, "unknown_service", f"no CDS service with that id; try {SERVICE_ID}")
        if body.hook != HOOK:
            raise ApiError(422, "unsupported_hook", f"this service answers the {HOOK} hook")
        profile = body.context.get("profile")
        engine = engine_of(request, profile if isinstance(profile, str) else None)
        try:
            note = _the_note(body)
        except FhirError as exc:
            raise ApiError(422, exc.code, exc.message) from None
        request.state.text_length = len(note.text)
        limit = request.app.state.settings.max_text_chars
        if len(note.text) > limit:
            raise ApiError(413, "text_too_long", f"text over {limit} characters")
        billed = _billed_code(body, note, engine.services)
        gate = request.app.state.engine_gate
        try:
            with gate.queued(len(note.text)), gate.lock:
                result = engine.check(note.text, billed_code=billed)
        except InputError as exc:
            raise ApiError(
                413 if exc.code == "text_too_long" else 422, exc.code, exc.message
            ) from None
        return {"cards": cards_for(result)}

    return guarded
