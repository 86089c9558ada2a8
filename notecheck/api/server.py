"""``notecheck serve``: run the app with uvicorn."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from notecheck.api.settings import Settings

LOOPBACK = "127.0.0.1"


class WithholdTracebacks(logging.Filter):
    """Drop exception details from the server's log records.

    Uvicorn logs "Exception in ASGI application" with the traceback, and an exception message
    can quote the note (PHI). The app logs the exception type under its request id; here the
    record keeps its message and loses the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, without its traceback."""
        if record.exc_info or record.exc_text:
            kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else "?"
            record.msg = f"{record.getMessage()} ({kind}; traceback withheld: it may quote a note)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _idle_closing_protocol() -> type[asyncio.Protocol]:
    """Uvicorn's HTTP protocol, with the keep-alive timer started when a connection opens.

    Uvicorn starts that timer only after a response, so a client that connects and never sends
    a request holds its socket forever (thousands of them locked new clients out). Any data
    received cancels the timer as before; a request in progress is never cut.
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class IdleClosingProtocol(AutoHTTPProtocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    return IdleClosingProtocol


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options that bound idle and excess connections (shared with the tests)."""
    return {
        # Idle connections — fresh or kept alive — close after NOTECHECK_KEEP_ALIVE_SECONDS;
        # past the cap new connections get 503 instead of piling up.
        "http": _idle_closing_protocol(),
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
    }


def log_config() -> dict[str, Any]:
    """Uvicorn's logging configuration with tracebacks withheld from every handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["withhold_tracebacks"] = {
        "()": "notecheck.api.server.WithholdTracebacks"
    }
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("withhold_tracebacks")
    return config


def serve(host: str | None = None, port: int = 8000, workers: int = 1) -> int:
    """Run the API. Without API keys the server only binds to 127.0.0.1."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    log = logging.getLogger("notecheck.api")
    settings = Settings.from_env()
    if not settings.api_keys:
        if host not in (None, LOOPBACK, "localhost"):
            log.error(
                "refusing to listen on %s without NOTECHECK_API_KEYS: notes are PHI; "
                "set API keys or listen on 127.0.0.1",
                host,
            )
            return 2
        host = LOOPBACK
        log.warning("NOTECHECK_API_KEYS is not set: no authentication, listening on 127.0.0.1 only")
    else:
        host = host or LOOPBACK
        log.info("API key authentication on (%d key(s))", len(settings.api_keys))
    log.info("notecheck: open http://%s:%d/ (API docs at /docs); press Ctrl+C to stop", host, port)
    uvicorn.run(
        "notecheck.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # our own request log carries no query strings or bodies
        log_level="info",
        log_config=log_config(),
        **server_options(settings),
    )
    return 0
