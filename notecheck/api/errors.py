"""The one error shape: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.responses import JSONResponse


class ApiError(Exception):
    """An error with an HTTP status and a message that is safe to return."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """A JSON error response in the API's one shape."""
    headers = {"WWW-Authenticate": "X-API-Key"} if status == 401 else None
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message}}, headers=headers
    )


def field_path(loc: Iterable[Any], known: frozenset[str]) -> str:
    """A validation error's location with every name the schema does not declare withheld.

    A submitted key is client data and may be a name ("Jane Doe": ...); list indexes and the
    schema's own field names are safe to show.
    """
    parts = [
        str(p) if isinstance(p, int) or p in known else "(unknown field)"
        for p in loc
        if p != "body"
    ]
    return ".".join(parts) or "body"


def describe_validation(errors: Iterable[Mapping[str, Any]], known: frozenset[str]) -> str:
    """Up to five ``field: problem`` parts, never a submitted value or unknown key."""
    return "; ".join(
        f"{field_path(e.get('loc', ()), known)}: {e.get('msg', '')}" for e in list(errors)[:5]
    )
