"""API settings, read from ``NOTECHECK_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from notecheck.engine import MAX_TEXT_CHARS
from notecheck.profiles import load_profile

#: Shortest API key accepted from the environment: a guessable key is no gate.
MIN_KEY_CHARS = 16


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


@dataclass(frozen=True)
class Settings:
    """Runtime settings of the HTTP service."""

    #: API keys; when non-empty every /v1 call needs a matching ``X-API-Key`` header.
    api_keys: tuple[str, ...] = ()
    #: Largest note accepted (characters); never above the engine's own limit.
    max_text_chars: int = MAX_TEXT_CHARS
    #: Most notes in one ``/v1/check/batch`` request.
    max_batch: int = 1000
    #: Largest request body in bytes.
    max_body_bytes: int = 25 * 1024 * 1024
    #: Model directory (default: the shipped model).
    model_dir: str | None = None
    #: The rule profile of a request that names none (``NOTECHECK_PROFILE``, else Illinois).
    profile: str = "il132"
    #: Browser origins allowed to call the API (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
    #: Seconds to wait for each part of a request body before answering 408.
    body_timeout_seconds: float = 20.0
    #: Most connections and requests served at once (uvicorn answers 503 beyond it).
    max_connections: int = 200
    #: Seconds an idle connection (fresh or kept alive) stays open.
    keep_alive_seconds: int = 5
    #: ``/readyz`` answers 503 busy while more note text than this waits for the engine
    #: (about 15 s of work on two cores).
    ready_max_queued_chars: int = 500_000

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from the environment.

        ``NOTECHECK_API_KEYS`` (comma-separated), ``NOTECHECK_MAX_TEXT_CHARS``,
        ``NOTECHECK_MAX_BATCH``, ``NOTECHECK_MAX_BODY_BYTES``, ``NOTECHECK_MODEL_DIR``,
        ``NOTECHECK_PROFILE``, ``NOTECHECK_CORS_ORIGINS`` (comma-separated origins),
        ``NOTECHECK_BODY_TIMEOUT_SECONDS``, ``NOTECHECK_MAX_CONNECTIONS``,
        ``NOTECHECK_KEEP_ALIVE_SECONDS`` and ``NOTECHECK_READY_MAX_QUEUED_CHARS``.
        """
        keys = tuple(
            k.strip() for k in os.environ.get("NOTECHECK_API_KEYS", "").split(",") if k.strip()
        )
        short = [k for k in keys if len(k) < MIN_KEY_CHARS]
        if short:
            # Never echo a key: say how many are too short.
            raise ValueError(
                f"NOTECHECK_API_KEYS: {len(short)} key(s) shorter than {MIN_KEY_CHARS} characters; "
                "use long random keys (for example: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        return cls(
            api_keys=keys,
            max_text_chars=min(_int("NOTECHECK_MAX_TEXT_CHARS", MAX_TEXT_CHARS), MAX_TEXT_CHARS),
            max_batch=_int("NOTECHECK_MAX_BATCH", 1000),
            max_body_bytes=_int("NOTECHECK_MAX_BODY_BYTES", 25 * 1024 * 1024),
            model_dir=os.environ.get("NOTECHECK_MODEL_DIR") or None,
            profile=load_profile(os.environ.get("NOTECHECK_PROFILE") or None).name,
            cors_origins=tuple(
                o.strip().rstrip("/")
                for o in os.environ.get("NOTECHECK_CORS_ORIGINS", "").split(",")
                if o.strip()
            ),
            body_timeout_seconds=float(_int("NOTECHECK_BODY_TIMEOUT_SECONDS", 20)),
            max_connections=_int("NOTECHECK_MAX_CONNECTIONS", 200),
            keep_alive_seconds=_int("NOTECHECK_KEEP_ALIVE_SECONDS", 5),
            ready_max_queued_chars=_int("NOTECHECK_READY_MAX_QUEUED_CHARS", 500_000),
        )
