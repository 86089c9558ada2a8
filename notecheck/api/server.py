"""``notecheck serve``: run the app with uvicorn."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

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


class IdleClosingProtocol(AutoHTTPProtocol):  # type: ignore[valid-type,misc]
    """Uvicorn's HTTP protocol, with the keep-alive timer started when a connection opens.

    Uvicorn starts that timer only after a response, so a client that connects and never sends
    a request holds its socket forever (thousands of them locked new clients out). Any data
    received cancels the timer as before; a request in progress is never cut. Defined at module
    level so that uvicorn can hand it to worker processes (``--workers``), which pickle it.
    """

    def connection_made(self, transport: Any) -> None:
        """Start the idle timer as soon as the connection opens."""
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options that bound idle and excess connections (shared with the tests)."""
    return {
        # Idle connections — fresh or kept alive — close after NOTECHECK_KEEP_ALIVE_SECONDS;
        # past the cap new connections get 503 instead of piling up.
        "http": IdleClosingProtocol,
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


# Each worker process holds its own engine (about 300 MiB after long use); checking a note is
# CPU-bound, so workers beyond the CPUs only add memory.
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """One worker per CPU this process may run on, at most ``MAX_DEFAULT_WORKERS``."""
    try:
        cpus = len(os.sched_getaffinity(0))  # what a container or taskset allows
    except AttributeError:  # not on every platform
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


def serve(host: str | None = None, port: int = 8000, workers: int | None = None) -> int:
    """Run the API. Without API keys the server only binds to 127.0.0.1.

    ``workers`` defaults to ``default_workers()``; each worker loads its own engine.
    """
    import uvicorn

    workers = default_workers() if workers is None else workers
    if workers < 1:
        print("notecheck serve: --workers must be at least 1", file=sys.stderr)
        return 2

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
    log.info(
        "notecheck: open http://%s:%d/ (API docs at /docs); %d worker(s); press Ctrl+C to stop",
        host,
        port,
        workers,
    )
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
