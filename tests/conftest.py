from __future__ import annotations

import pytest

from notecheck.engine import Engine
from notecheck.nlp import build_nlp


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The shipped model and rule catalog, loaded once for the whole session."""
    return Engine()


@pytest.fixture(scope="session")
def nlp():
    return build_nlp()
