"""Errors the harness raises for its users (as opposed to failures of the backend under test)."""

from __future__ import annotations


class UsageError(Exception):
    """The user asked for something that cannot be done (unknown backend, bad option value)."""


class UnsupportedError(Exception):
    """The backend under test lacks a name or capability a test needs; reported, never passed."""
