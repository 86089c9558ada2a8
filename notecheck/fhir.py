"""FHIR R4 input: a progress note as a ``DocumentReference``, several as a ``Bundle`` or NDJSON.

Resources are parsed and validated with ``fhir.resources`` (its R4B models, which read R4
``DocumentReference`` and ``Bundle`` as written), not by walking dicts. The note is the first
inline attachment that is text: ``text/plain`` as is, ``text/html`` reduced to its text. What a
FHIR client sends wrongly gets a ``FhirError`` whose message names fields, never their values:
a resource carries PHI.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Any

from pydantic import ValidationError

TEXT_TYPES = ("text/plain", "text/html")
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre"}
)


class FhirError(ValueError):
    """A resource that cannot be read as a note: the message is safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FhirNote:
    """What notecheck reads from one DocumentReference."""

    text: str
    note_id: str | None = None
    client_id: str | None = None  # the subject reference, e.g. "Patient/123"
    staff_id: str | None = None  # the first author reference
    service_date: str | None = None  # context.period.start, else date (ISO)
    event_codes: tuple[str, ...] = ()  # context.event codes: the service billed, when sent


class _TextOf(HTMLParser):
    """The text of an HTML note: block elements become line breaks, scripts and styles vanish."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML attachment (entities decoded, blank lines collapsed)."""
    parser = _TextOf()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _fields(exc: ValidationError) -> str:
    """The invalid fields of a validation error, without the values sent."""
    paths = [".".join(str(p) for p in err["loc"]) or "(resource)" for err in exc.errors()[:3]]
    return ", ".join(dict.fromkeys(paths))


def _decode(data: bytes, content_type: str) -> str:
    charset = "utf-8"
    match = re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE)
    if match:
        charset = match.group(1)
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise FhirError(
            "invalid_attachment", "the attachment's data is not text in the charset it declares"
        ) from None


def _text(resource: Any) -> str:
    """The note text of a validated DocumentReference."""
    attachments = [c.attachment for c in resource.content or [] if c.attachment is not None]
    by_type: dict[str, Any] = {}
    for attachment in attachments:
        kind = (attachment.contentType or "").split(";")[0].strip().lower()
        by_type.setdefault(kind, attachment)
    for kind in TEXT_TYPES:
        attachment = by_type.get(kind)
        if attachment is None:
            continue
        if attachment.data is None:
            raise FhirError(
                "attachment_not_inline",
                "the text attachment has no inline data (a url alone is not fetched)",
            )
        text = _decode(attachment.data, attachment.contentType or "")
        return html_to_text(text) if kind == "text/html" else text
    sent = ", ".join(sorted(k or "(none)" for k in by_type)) or "no attachment"
    raise FhirError(
        "unsupported_attachment",
        f"no text/plain or text/html attachment (found: {sent}); send the note as text",
    )


def billed_code_of(
    note: FhirNote, billed_codes: Iterable[str], code_map: Mapping[str, str]
) -> str | None:
    """The first event code of the note that names a billed code, directly or through the map."""
    known = {code.upper() for code in billed_codes}
    for code in note.event_codes:
        key = code.strip().upper()
        if key in code_map or key in known:
            return code
    return None


def read_document_reference(raw: Any) -> FhirNote:
    """Validate a FHIR ``DocumentReference`` (a dict) and read its note.

    Raises
    ------
    FhirError
        For anything that is not a valid DocumentReference with an inline text attachment.
    """
    from fhir.resources.R4B.documentreference import DocumentReference

    if not isinstance(raw, Mapping) or raw.get("resourceType") != "DocumentReference":
        raise FhirError(
            "invalid_fhir", "expected a FHIR resource with resourceType DocumentReference"
        )
    try:
        resource = DocumentReference.model_validate(dict(raw))
    except ValidationError as exc:
        raise FhirError(
            "invalid_fhir", f"not a valid FHIR DocumentReference (fields: {_fields(exc)})"
        ) from None
    context = resource.context
    period_start = context.period.start if context and context.period else None
    when = period_start or resource.date
    codes = tuple(
        coding.code
        for event in (context.event or [] if context else [])
        for coding in event.coding or []
        if coding.code
    )
    return FhirNote(
        text=_text(resource),
        note_id=resource.id,
        client_id=resource.subject.reference if resource.subject else None,
        staff_id=resource.author[0].reference if resource.author else None,
        service_date=_iso_date(when),
        event_codes=codes,
    )


def _iso_date(value: Any) -> str | None:
    """A FHIR date or dateTime as ``yyyy-mm-dd`` (None when absent or partial)."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value or "")
    return text[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", text) else None


def document_references(raw: Any) -> Iterator[Any]:
    """The DocumentReference entries of a FHIR ``Bundle`` (validated as a Bundle first)."""
    from fhir.resources.R4B.bundle import Bundle

    if not isinstance(raw, Mapping) or raw.get("resourceType") != "Bundle":
        raise FhirError("invalid_fhir", "expected a FHIR resource with resourceType Bundle")
    try:
        Bundle.model_validate(
            {
                **raw,
                "entry": [
                    {k: v for k, v in e.items() if k != "resource"}
                    for e in raw.get("entry") or []
                    if isinstance(e, Mapping)
                ],
            }
        )
    except ValidationError as exc:
        raise FhirError(
            "invalid_fhir", f"not a valid FHIR Bundle (fields: {_fields(exc)})"
        ) from None
    for entry in raw.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping) and resource.get("resourceType") == "DocumentReference":
            yield resource
