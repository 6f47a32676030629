"""Errors the harness raises for its users (as opposed to failures of the backend under test)."""

from __future__ import annotations


class UsageError(Exception):
    """The user asked for something that cannot be done (unknown backend, bad option value)."""


class UnsupportedError(Exception):
    """The backend under test lacks a name or capability a test needs; reported, never passed."""


class BackendUnavailableError(ImportError):
    """An adapter's third-party library is not installed.

    Adapter modules raise it at import time; the harness turns it into a usage error that names the
    extra to install, and ``prunebench backends`` lists the backend as unavailable instead of hiding it.
    It subclasses ``ImportError`` so that plain ``import`` users see the familiar exception type.
    """

    def __init__(self, backend: str, library: str, extra: str, cause: BaseException | None = None) -> None:
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(
            f"backend {backend!r} is unavailable: it needs the {library!r} library{detail}; "
            f"install it with: pip install 'prunebench[{extra}]'"
        )
        self.backend = backend
        self.library = library
        self.extra = extra


class NotApplicableError(Exception):
    """The test means nothing for this backend (a differential check of the reference against itself)."""
