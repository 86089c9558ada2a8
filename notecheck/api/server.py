"""``notecheck serve``: run the app with uvicorn."""

from __future__ import annotations

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
        # Idle keep-alive connections close after 5 s; past the cap new connections get 503
        # instead of piling up (thousands of idle sockets used to lock new clients out).
        timeout_keep_alive=5,
        limit_concurrency=settings.max_connections,
        log_config=log_config(),
    )
    return 0
