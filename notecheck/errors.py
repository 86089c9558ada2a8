"""Errors the command line reports without importing the heavy modules that raise them."""

from __future__ import annotations


class ModelError(RuntimeError):
    """The model artifact is missing, corrupt or incompatible with this installation."""


class ProfileEvalError(ValueError):
    """A profile evaluation record does not match the schema."""
