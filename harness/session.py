"""What the plugin resolves once per session: backends, matrix, expected failures, scoreboard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .backend import DEFAULT_BACKEND, Backend, check_backend, resolve_backends
from .cell import TestCell
from .errors import UsageError
from .global_state import TorchGlobalState
from .matrix import parse_devices, parse_dtypes
from .scoreboard import Scoreboard
from .subjects import Subject
from .xfails import ExpectedFailure, builtin_xfails_file, load_xfails, match_xfail

BACKEND_ENV = "PRUNEBENCH_BACKEND"


class PluginState:
    """The session's backends, devices, dtypes and expected failures, resolved once from the options."""

    def __init__(self, config: pytest.Config) -> None:
        option = config.option
        before_import = TorchGlobalState.capture()
        try:
            self.backends: list[Backend] = _selected_backends(option)
            _check_import_left_state(before_import, self.backends)
            self.devices = parse_devices(option.prunebench_device)
            self.dtypes = parse_dtypes(option.prunebench_dtype)
            self.user_xfails = [e for path in option.prunebench_xfails for e in load_xfails(Path(path))]
            self.backend_xfails = {
                backend.name: load_xfails(backend.xfails_file) if backend.xfails_file else []
                for backend in self.backends
            }
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        self.scoreboard = Scoreboard()
        self.collected_functions: set[str] = set()
        self.library_xfails: dict[str, list[ExpectedFailure]] = {}
        self.finished = 0
        self.expected: int | None = None
        """Tests that ran to their end, of those collected: set when the session finishes (controller only)."""

    @property
    def check_subject(self) -> Any:
        """The class under ``prunebench check`` (``--check``), or None in a run of libraries."""
        return self.backends[0].subject if len(self.backends) == 1 else None

    def backend_named(self, name: str) -> Backend:
        return next(backend for backend in self.backends if backend.name == name)

    def expected_failure(self, cell: TestCell, params: dict[str, Any]) -> str | None:
        """The xfail reason of a cell: its backend's (or the user's) entry, else one its subject inherits."""
        expected = match_xfail(cell.test, self.backend_xfails.get(cell.backend, [])) or match_xfail(
            cell.test, self.user_xfails
        )
        if expected is not None:
            return f"{expected.reason} [{expected.source}]"
        subject, check = params.get("subject"), params.get("check")
        # a one-shot pruner (a record, not a class) inherits no library's lifecycle methods
        library = subject.inherited_from(getattr(check, "relies_on", ())) if isinstance(subject, Subject) else None
        if library is None or library == cell.backend:
            return None
        inherited = match_xfail(cell.test, self._library_xfails(library))
        if inherited is None:
            return None
        methods = ", ".join(check.relies_on)
        return f"inherited from {library} ({methods} not overridden): {inherited.reason} [{inherited.source}]"

    def _library_xfails(self, library: str) -> list[ExpectedFailure]:
        """A built-in library's own expected failures, read once."""
        if library not in self.library_xfails:
            path = builtin_xfails_file(library)
            self.library_xfails[library] = load_xfails(path) if path else []
        return self.library_xfails[library]

    def stale_xfails(self) -> list[ExpectedFailure]:
        """Entries naming a test function that no longer exists in a module that was collected.

        An entry for a device or dtype outside this run's matrix is not stale, merely idle.
        """
        entries = self.user_xfails + [e for es in self.backend_xfails.values() for e in es]
        modules = {function.split("::", 1)[0] for function in self.collected_functions}
        return [
            entry
            for entry in entries
            if not entry.matched
            and entry.prefix.split("::", 1)[0] in modules
            and entry.prefix.split("[", 1)[0] not in self.collected_functions
        ]


def _check_import_left_state(before: TorchGlobalState, backends: list[Backend]) -> None:
    """Importing a backend must not change process-wide state: every later test would run under it."""
    changes = TorchGlobalState.capture().changes_since(before)
    if changes:
        before.restore()
        names = ", ".join(backend.name for backend in backends)
        raise UsageError(f"importing backend(s) {names} changed process-wide state: {'; '.join(changes)}")


def _selected_backends(option: Any) -> list[Backend]:
    """``--check`` (one class) or ``--backend`` / ``$PRUNEBENCH_BACKEND`` (libraries); not both."""
    if option.prunebench_check:
        if option.prunebench_backend:
            raise UsageError("--check validates one class and --backend selects libraries: give one of them")
        return [check_backend(option.prunebench_check, option.prunebench_check_kwargs, option.prunebench_like)]
    if option.prunebench_check_kwargs is not None or option.prunebench_like:
        raise UsageError("--check-kwargs and --like apply to the class given with --check")
    if option.prunebench_backend is not None:
        return resolve_backends(option.prunebench_backend)  # given but empty (an unset shell variable): an error
    return resolve_backends(os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND)
