"""What the plugin wraps around each test: peak memory, torch's process-wide state, time limits.

``TestGuard`` checks, after each test's call, what the test may not leave behind: changed process-wide
settings (``harness.global_state``), patched torch classes and functions (``harness.torch_attributes``),
threads and child processes still running (``harness.leaks``); each is put back or cleaned up so later
tests run unharmed. A change made while a thread another backend left running was alive is *not
attributable*: the test's result is void (not applicable, with that reason), never charged to its backend.

Also which failures are the harness's own verdict on the backend rather than an outcome an
expected-failure entry may cover: a timeout, a change to process-wide state or work left running is
never an xfail.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from . import leaks
from .cell import TestCell
from .errors import NotApplicableError
from .failure import TIMEOUT_MARK
from .global_state import GlobalStateMutationError, TorchGlobalState
from .memory import PeakMemoryProbe
from .torch_attributes import TorchAttributes

DEFAULT_TEST_TIMEOUT_S = 300.0
"""Per-test limit when the user sets none: far above any conformance test, far below forever."""
TIMEOUT_IS_DEFAULT = pytest.StashKey[bool]()
"""Set when the limit above was applied because the user chose none: a suite may then set its own."""


def default_timeout(config: pytest.Config) -> None:
    """Give every test a timeout unless the user chose one, so a hanging backend fails one test, not the run.

    pytest-timeout's ``--timeout``, ``PYTEST_TIMEOUT`` and ini ``timeout`` all take precedence.
    """
    if not config.pluginmanager.hasplugin("timeout"):
        return
    chosen = config.getoption("timeout", None) is not None or os.environ.get("PYTEST_TIMEOUT")
    if not chosen and not config.getini("timeout"):
        config.option.timeout = DEFAULT_TEST_TIMEOUT_S
        config.stash[TIMEOUT_IS_DEFAULT] = True


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


class LeftRunningError(GlobalStateMutationError):
    """A test left a thread or a child process running (the backend's fault: tests leave nothing behind)."""


class NotAttributableError(NotApplicableError):
    """Process-wide state changed while threads of another backend ran: whose change it was cannot be told."""


@dataclass
class TestGuard:
    """What runs before a test's call, to compare after it: ``finish`` says what the test may not leave."""

    __test__ = False  # a guard, not a pytest test class

    cell: TestCell
    state: TorchGlobalState = field(default_factory=TorchGlobalState.capture)
    attributes: TorchAttributes = field(default_factory=TorchAttributes.capture)
    running: leaks.Running = field(default_factory=leaks.Running.now)
    notes: list[str] = field(default_factory=list)
    """What was found and cleaned up after a test that failed on its own (shown in its report)."""

    def _reseeded_before_call(self) -> list[str]:
        """The seed fixture seeded torch with the cell's seed at setup: anything else now was set since, by a
        thread (nothing else runs between the setup and the call)."""
        if self.state.rng_seed == self.cell.seed:
            return []
        return [f"rng_seed: {self.cell.seed} -> {self.state.rng_seed} (between the test's setup and its call)"]

    def finish(self, raised: BaseException | None) -> BaseException | None:
        """Put back and clean up; the exception the test's call should end with instead, if any.

        A test that failed on its own keeps its failure (what it also left behind is noted); a change
        that cannot be attributed voids the test whatever it did.
        """
        left = leaks.left_running(self.running)
        if left:
            leaks.clean_up(left, leaks.Origin(self.cell.backend, self.cell.test))
        changes = self._reseeded_before_call() + global_state_changes(self.state)
        patched = TorchAttributes.capture().changes_since(self.attributes)
        if patched:
            self.attributes.restore()
        problems = [*changes, *(f"torch patched: {line}" for line in patched)]
        if problems:
            others = leaks.suspects(self.cell.backend, other=True)
            if others:
                return NotAttributableError(
                    f"not attributable: process-wide state changed during this test ({'; '.join(problems)}) while "
                    f"threads started by {', '.join(o.describe() for o in others)} were running; this test's result "
                    "is void (restored for the tests that follow)"
                )
            own = leaks.suspects(self.cell.backend, other=False)
            problems += [f"(a thread started by {o.describe()} was running: it may have made the change)" for o in own]
        if raised is not None:
            self.notes += problems + ([f"left running: {left.describe()}"] if left else [])
            return None
        if problems:
            return global_state_error(problems)
        if left.keep_process_alive:
            return LeftRunningError(
                f"the backend left work running after this test (cleaned up where possible): {left.describe()}"
            )
        return None


def harness_fault(call: pytest.CallInfo) -> str | None:
    """Why a failure must never count as an expected one: a timeout, a change to process-wide state, or
    work left running."""
    excinfo = call.excinfo
    if excinfo is None:
        return None
    if isinstance(excinfo.value, LeftRunningError):
        return "left a thread or a process running"
    if isinstance(excinfo.value, GlobalStateMutationError):
        return "changed process-wide state"
    if excinfo.typename == "Failed" and TIMEOUT_MARK in str(excinfo.value):
        return "timed out"
    return None
