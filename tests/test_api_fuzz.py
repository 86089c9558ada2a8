"""Property-based API test: schemathesis drives the app from its own OpenAPI schema."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from notecheck.api import create_app  # noqa: E402
from notecheck.api.settings import Settings  # noqa: E402
from notecheck.engine import Engine  # noqa: E402

_app = create_app(Settings(max_batch=20))
_app.state.engine = Engine()  # the lifespan does not run under schemathesis' ASGI transport
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_500(case):
    case.call_and_validate(checks=[not_a_server_error])
