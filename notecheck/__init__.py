"""notecheck: which Medicaid service does a case-management progress note support, and why.

>>> import notecheck
>>> result = notecheck.check("CM left VM for clt's PCP re: appt")
>>> result.label
'NON-BILLABLE'
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notecheck.engine import CheckError, Engine, InputError, check, check_many
    from notecheck.labels import LABELS
    from notecheck.model import ModelError
    from notecheck.result import Result

# Loaded on first use, so "notecheck --version" and "--help" answer without importing spaCy
# and scikit-learn (PEP 562 module __getattr__).
_LAZY = {
    "CheckError": "notecheck.engine",
    "Engine": "notecheck.engine",
    "InputError": "notecheck.engine",
    "check": "notecheck.engine",
    "check_many": "notecheck.engine",
    "LABELS": "notecheck.labels",
    "ModelError": "notecheck.model",
    "Result": "notecheck.result",
}

__all__ = [
    "LABELS",
    "CheckError",
    "Engine",
    "InputError",
    "ModelError",
    "Result",
    "__version__",
    "check",
    "check_many",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'notecheck' has no attribute {name!r}")
