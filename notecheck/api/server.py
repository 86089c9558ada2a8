"""``notecheck serve``: run the app with uvicorn."""

from __future__ import annotations

import logging
import sys

from notecheck.api.settings import Settings

LOOPBACK = "127.0.0.1"


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
    )
    return 0
