"""What the plugin wraps around each test: peak memory, torch's process-wide state, time limits.

Also which failures are the harness's own verdict on the backend rather than an outcome an
expected-failure entry may cover: a timeout or a change to process-wide state is never an xfail.
"""

from __future__ import annotations

import os

import pytest

from .global_state import GlobalStateMutationError, TorchGlobalState
from .memory import PeakMemoryProbe

DEFAULT_TEST_TIMEOUT_S = 300.0
"""Per-test limit when the user sets none: far above any conformance or perf test, far below forever."""
TIMEOUT_MARK = "Timeout (>"
"""How pytest-timeout's signal method words the failure it raises inside a test that ran too long
(pytest-timeout has no exception type of its own: ``pytest.fail`` is all it raises)."""


def default_timeout(config: pytest.Config) -> None:
    """Give every test a timeout unless the user chose one, so a hanging backend fails one test, not the run.

    pytest-timeout's ``--timeout``, ``PYTEST_TIMEOUT`` and ini ``timeout`` all take precedence.
    """
    if not config.pluginmanager.hasplugin("timeout"):
        return
    chosen = config.getoption("timeout", None) is not None or os.environ.get("PYTEST_TIMEOUT")
    if not chosen and not config.getini("timeout"):
        config.option.timeout = DEFAULT_TEST_TIMEOUT_S


def memory_probe(device: str | None, record_cpu_memory: bool) -> PeakMemoryProbe | None:
    """A probe for the test's device when its memory is recorded: always on CUDA, on CPU if asked."""
    if device is None:
        return None
    if device.startswith("cuda") or record_cpu_memory:
        return PeakMemoryProbe(device)
    return None


def global_state_changes(before: TorchGlobalState) -> list[str]:
    """What changed since ``before``, after putting it back so the tests that follow run unharmed."""
    changes = TorchGlobalState.capture().changes_since(before)
    if changes:
        before.restore()
    return changes


def global_state_error(changes: list[str]) -> GlobalStateMutationError:
    return GlobalStateMutationError(
        "the backend changed torch's process-wide state during this test (restored for the tests that "
        "follow): " + "; ".join(changes)
    )


def harness_fault(call: pytest.CallInfo) -> str | None:
    """Why a failure must never count as an expected one: a timeout, or a change to process-wide state."""
    excinfo = call.excinfo
    if excinfo is None:
        return None
    if isinstance(excinfo.value, GlobalStateMutationError):
        return "changed process-wide state"
    if excinfo.typename == "Failed" and TIMEOUT_MARK in str(excinfo.value):
        return "timed out"
    return None
