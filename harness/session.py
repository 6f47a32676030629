"""What the plugin resolves once per session: backends, matrix, expected failures, scoreboard."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from . import leaks
from .backend import Backend, check_backend, resolve_backends
from .cell import TestCell
from .errors import UsageError
from .global_state import TorchGlobalState
from .matrix import parse_devices, parse_dtypes
from .names import BACKEND_ENV, DEFAULT_BACKEND
from .scoreboard import Scoreboard
from .subjects import Subject
from .torch_attributes import TorchAttributes, import_watched_modules
from .xfails import ExpectedFailure, inherited_failure, load_xfails, match_xfail


class PluginState:
    """The session's backends, devices, dtypes and expected failures, resolved once from the options."""

    def __init__(self, config: pytest.Config) -> None:
        option = config.option
        import_watched_modules()
        before_import = (TorchGlobalState.capture(), TorchAttributes.capture(), leaks.Running.now())
        self.running_before = before_import[2]
        """What ran before the backends were imported: only what starts after may keep the process alive."""
        try:
            self.backends: list[Backend] = _selected_backends(option)
            self.backends = _check_import_left_state(*before_import, self.backends)
            self.devices = parse_devices(option.prunebench_device)
            self.dtypes = parse_dtypes(option.prunebench_dtype, self.devices if self.check_subject else None)
            self.user_xfails = [e for path in option.prunebench_xfails for e in load_xfails(Path(path))]
            self.backend_xfails = {
                backend.name: load_xfails(backend.xfails_file) if backend.xfails_file else []
                for backend in self.backends
            }
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        self.scoreboard = Scoreboard()
        self.collected_functions: set[str] = set()
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
        if not isinstance(subject, Subject) or check is None:
            return None
        return inherited_failure(subject, check.relies_on, cell.test, cell.backend)

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


def _check_import_left_state(
    before: TorchGlobalState, attributes: TorchAttributes, running: leaks.Running, backends: list[Backend]
) -> list[Backend]:
    """Importing a backend must not change process-wide state: every later test would run under it.

    Patching torch's classes or functions is the backend's own business while it is alone in the process
    (its tests run with its patch, and the report says so); beside another backend it would change that
    backend's tests too (torch's declared bugs would pass), so it is refused. Threads its import started
    are remembered as its (``harness.leaks``).
    """
    names = ", ".join(backend.name for backend in backends)
    leaks.remember_threads(running, leaks.Origin(names, None))
    changes = TorchGlobalState.capture().changes_since(before)
    patched = TorchAttributes.capture().changes_since(attributes)
    if changes or (patched and len(backends) > 1):
        before.restore()
        attributes.restore()
        problems = changes + [f"torch patched: {line}" for line in patched]
        alone = " (run each backend alone, or with prunebench run, which gives each its own process)" if patched else ""
        raise UsageError(f"importing backend(s) {names} changed process-wide state: {'; '.join(problems)}{alone}")
    if patched:
        note = f"its import patched torch ({'; '.join(patched)}): its tests ran with the patch"
        return [dataclasses.replace(backends[0], notes=(*backends[0].notes, note))]
    return backends


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
