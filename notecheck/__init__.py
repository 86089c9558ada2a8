"""notecheck: which Medicaid service does a case-management progress note support, and why.

>>> import notecheck
>>> result = notecheck.check("CM left VM for clt's PCP re: appt")
>>> result.label
'NON-BILLABLE'
"""

from __future__ import annotations

__version__ = "0.1.0"

from notecheck.engine import CheckError, Engine, InputError, check, check_many
from notecheck.labels import LABELS
from notecheck.model import ModelError
from notecheck.result import Result

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
