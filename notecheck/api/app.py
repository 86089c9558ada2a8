"""``create_app()``: the FastAPI application (model loaded once, in the lifespan)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notecheck import __version__
from notecheck.api.cds import add_routes as cds_routes
from notecheck.api.errors import ApiError, describe_validation, error_response
from notecheck.api.gate import EngineGate
from notecheck.api.routes import (
    UNAUTHORIZED,
    check_router,
    engine_for,
    health_router,
    key_matches,
    meta_router,
    presented_key,
    require_api_key,
    web_router,
)
from notecheck.api.schemas import SCHEMA_FIELDS
from notecheck.api.settings import Settings
from notecheck.engine import Engine
from notecheck.model import ModelError

logger = logging.getLogger("notecheck.api")


def _log_request(fields: dict[str, object]) -> None:
    # One structured line per request. Never the body: notes are protected health information.
    logger.info(json.dumps(fields, sort_keys=True))


class _BodyLimit:
    """Count the body as it streams in and stop at the limit with a 413.

    With or without a Content-Length: a chunked body used to be read whole before anything
    looked at its size. Past the limit the app is told the client went away, and its answer is
    replaced by the 413.
    """

    def __init__(self, app: ASGIApp, limit: int, timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout  # seconds to wait for each part of the body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0
        exceeded = False
        slow = False
        started = False

        async def limited() -> Message:
            nonlocal seen, exceeded, slow
            if exceeded:
                return {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                # A body that trickles in (or stops) must not hold a worker forever.
                exceeded = slow = True
                scope.setdefault("state", {})["body_cut"] = 408
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    scope.setdefault("state", {})["body_cut"] = 413
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to a cut-off body is replaced below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            response = (
                error_response(408, "request_timeout", f"no body data for {self.timeout:g} seconds")
                if slow
                else error_response(413, "body_too_large", f"request body over {self.limit} bytes")
            )
            response.headers.update(_security_headers(scope.get("path", "")))
            response.headers["Connection"] = "close"  # the rest of the body is never read
            request_id = scope.get("state", {}).get("request_id")
            if request_id:
                response.headers["X-Request-ID"] = request_id
            await response(scope, receive, send)


# With API keys set, these need one: the API, and the docs that describe it.
_KEYED_PATHS = ("/v1/", "/cds-services", "/docs", "/redoc", "/openapi.json")
# FHIR clients label their JSON application/fhir+json; it is JSON all the same.
_JSON_TYPES = frozenset({"application/json", "application/fhir+json"})
# Health probes carry no PHI and often come from another host (an orchestrator).
_PROBE_PATHS = ("/healthz", "/readyz")


def _on_this_machine(client: tuple[str, int] | None) -> bool:
    """Whether a keyless server may answer this client: a loopback address, or no address.

    A Unix socket has no client address, and neither does an in-process test client; any TCP
    client has one.
    """
    if client is None:
        return True
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return True


# The page's own assets; anything else in the package folder (its __init__.py) is not served.
_ASSETS = frozenset({"app.js", "style.css"})


class _PageAssets(StaticFiles):
    """Static files limited to the page's assets."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in _ASSETS:
            raise StarletteHTTPException(status_code=404)
        return await super().get_response(path, scope)


# A caller's X-Request-ID is kept only when it looks like an id (a UUID or hex), since it
# goes into the log and a free-text header could carry a name.
_REQUEST_ID = re.compile(r"^[0-9A-Fa-f][0-9A-Fa-f-]{7,63}$")


def _request_id(sent: str | None) -> str:
    return sent if sent and _REQUEST_ID.match(sent) else uuid.uuid4().hex


def _security_headers(path: str) -> dict[str, str]:
    """No sniffing, no framing; the page and API load only their own assets.

    The offline OpenAPI docs initialise Swagger UI with an inline script, so they get no
    script policy.
    """
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    if not path.startswith(("/docs", "/redoc")):
        headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'"
        )
    return headers


def _public_reason(message: str, model_dir: str | None) -> str:
    """A model error without the file system paths in it."""
    from notecheck.model import default_model_dir

    for folder in {model_dir, str(default_model_dir())} - {None}:
        for form in {str(folder), str(Path(str(folder)).resolve())}:
            message = message.replace(form, "<model dir>")
    return message


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. ``engine`` may be injected (tests); otherwise it loads at start-up."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = engine
        app.state.model_error = None
        if app.state.engine is None:
            try:
                app.state.engine = Engine(settings.model_dir, profile=settings.profile)
            except ModelError as exc:
                # Stay up so /healthz answers and /readyz says why; /v1 answers 503. The
                # public reason names what went wrong, not where the files are (the log does).
                app.state.model_error = _public_reason(str(exc), settings.model_dir)
                logger.error(json.dumps({"event": "model_load_failed", "error": str(exc)}))
        yield

    # FastAPIOffline serves the Swagger/ReDoc assets from its package: /docs works offline.
    app = FastAPIOffline(
        title="notecheck",
        version=__version__,
        description=(
            "Which Medicaid service (Illinois Rule 132) does a case-management progress note "
            "support — CM-MH, CS-IND, CM-TLA, CM-CCC — or is it NON-BILLABLE, and why. Other "
            "jurisdictions' rulebooks are profiles (GET /v1/profiles; `profile` in a request)."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine_gate = EngineGate()
    app.state.profile_engines = {}  # engines of other profiles than the default, built on use
    app.state.profile_lock = threading.Lock()

    @app.middleware("http")
    async def request_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = _request_id(request.headers.get("x-request-id"))
        request.state.request_id = request_id
        request.state.text_length = None
        started = time.perf_counter()
        status = 500
        try:
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            length = 0
        try:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            response: Response
            if (
                not settings.api_keys
                and request.url.path not in _PROBE_PATHS
                and not _on_this_machine(
                    (request.client.host, request.client.port) if request.client else None
                )
            ):
                # The same guard as `notecheck serve`, inside the app: started any other way
                # (uvicorn on 0.0.0.0, a container), a server without keys is not open to the
                # network.
                response = error_response(
                    403,
                    "keys_required",
                    "no API keys are configured; this server answers clients on its own machine "
                    "only (set NOTECHECK_API_KEYS)",
                )
            elif (
                settings.api_keys
                and request.url.path.startswith(_KEYED_PATHS)
                and not key_matches(settings.api_keys, presented_key(request.headers))
            ):
                # Before the body is read: an unauthenticated client cannot make the server
                # read or parse anything.
                response = error_response(401, "unauthorized", UNAUTHORIZED)
            elif length > settings.max_body_bytes:
                response = error_response(
                    413, "body_too_large", f"request body over {settings.max_body_bytes} bytes"
                )
            elif (
                request.method == "POST"
                and request.url.path.startswith(("/v1/", "/cds-services"))
                and content_type not in _JSON_TYPES
            ):
                response = error_response(
                    415, "unsupported_media_type", "send the body as application/json"
                )
            else:
                response = await call_next(request)
            if response.status_code in (401, 403, 413) and request.method in ("POST", "PUT"):
                # The body was not read: close the connection, or a client that keeps sending
                # holds its socket (and a connection slot) for as long as it likes.
                response.headers["Connection"] = "close"
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            response.headers.update(_security_headers(request.url.path))
            return response
        finally:
            route = request.scope.get("route")
            _log_request(
                {
                    "event": "request",
                    "request_id": request_id,
                    "method": request.method,
                    # The route's template, never the path as sent: an unmatched path is
                    # client data and may carry a name.
                    "route": getattr(route, "path", "(no route)"),
                    # A body cut off by the limit is answered 413/408 outside this middleware.
                    "status": request.scope.get("state", {}).get("body_cut", status),
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "text_length": request.state.text_length,
                }
            )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(422, "malformed_json", "request body is not valid JSON")
        # Name the fields and the problem, never the submitted values or unknown keys.
        return error_response(422, "invalid_request", describe_validation(errors, SCHEMA_FIELDS))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI answers 400 when the body is not UTF-8; the API documents one answer for
            # a body it cannot read as JSON.
            return error_response(422, "malformed_json", "request body is not valid UTF-8 JSON")
        codes = {
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
            413: "body_too_large",
        }
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        response = error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), message
        )
        if exc.headers:  # a 405 says which methods are allowed (Allow)
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception text may quote the note: log its type only, answer generically.
        logger.error(
            json.dumps(
                {
                    "event": "unhandled_error",
                    "request_id": getattr(request.state, "request_id", None),
                    "type": type(exc).__name__,
                }
            )
        )
        return error_response(500, "internal_error", "internal error")

    if settings.cors_origins:
        # Outermost, so a browser's preflight is answered before the key check (it carries
        # no key); the actual request still needs one.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
    app.include_router(health_router)
    app.include_router(meta_router)
    app.include_router(check_router)
    app.include_router(cds_routes(require_api_key, engine_for))
    app.include_router(web_router)
    static = resources.files("notecheck.web")
    app.mount("/static", _PageAssets(directory=str(static)), name="static")
    app.add_middleware(
        _BodyLimit, limit=settings.max_body_bytes, timeout=settings.body_timeout_seconds
    )
    return app
