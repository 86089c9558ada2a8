"""HTTP API and reviewer page (FastAPI), a thin layer over ``notecheck.engine``."""

from notecheck.api.app import create_app

__all__ = ["create_app"]
