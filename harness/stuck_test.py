"""Stops a test that outlived its time limit when pytest-timeout's SIGALRM could not.

pytest-timeout's default (signal) method arms ``SIGALRM`` for each test; a backend that calls
``signal.alarm(0)`` or ignores ``SIGALRM`` would then hang its test, and the run, forever. One
watchdog thread per process follows the test pytest-timeout is timing. Past the test's limit plus a
grace period (pytest-timeout gets the first word):

1. if pytest-timeout's handler is still installed (only the alarm was cancelled), the watchdog sends
   ``SIGALRM`` to the test's thread itself: the test fails with pytest-timeout's usual "Timeout" and
   the run goes on in the same process;
2. otherwise, or if the test is still running one more grace period later, it writes the stacks and
   ends the process, as pytest-timeout's thread method does. Under xdist (the default of plain pytest
   runs, see ``harness.watchdog``) the worker dies and the test is reported **crashed**; in a single
   process the run stops and its report stays "running", never green.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
from dataclasses import dataclass
from time import monotonic as _now  # bound now: a backend replacing time.monotonic does not reach the watchdog

import pytest

MAX_GRACE_S = 10.0
"""The most a test may run past its limit before the watchdog acts (at most the limit itself, so a
1 s limit in a test of the harness acts after 2 s)."""
KILLED_EXIT = int(pytest.ExitCode.INTERRUPTED)
"""Exit status of a process the watchdog ends (an xdist worker: the test is reported crashed)."""


def grace_period(timeout: float) -> float:
    return min(MAX_GRACE_S, timeout)


@dataclass
class _Armed:
    item: pytest.Item
    timeout: float
    deadline: float
    resent: bool = False


def _is_pytest_timeout_handler(handler: object) -> bool:
    return getattr(handler, "__module__", None) == "pytest_timeout"


class StuckTestWatchdog(threading.Thread):
    """One daemon thread per process; ``arm`` at each test's start, ``disarm`` at its end."""

    def __init__(self) -> None:
        super().__init__(name="prunebench stuck-test watchdog", daemon=True)
        self.target = threading.get_ident()
        self.condition = threading.Condition()
        self.armed: _Armed | None = None
        self.stopped = False

    def arm(self, item: pytest.Item, timeout: float) -> None:
        with self.condition:
            deadline = _now() + timeout + grace_period(timeout)
            self.armed = _Armed(item, timeout, deadline)
            self.condition.notify()

    def disarm(self) -> None:
        with self.condition:
            self.armed = None
            self.condition.notify()

    def stop(self) -> None:
        with self.condition:
            self.stopped = True
            self.condition.notify()

    def run(self) -> None:
        with self.condition:
            while not self.stopped:
                armed = self.armed
                if armed is None:
                    self.condition.wait()
                elif _now() < armed.deadline:
                    self.condition.wait(armed.deadline - _now())
                else:
                    self._act(armed)

    def _act(self, armed: _Armed) -> None:
        """Past the deadline (called with the condition held, so ``disarm`` cannot interleave)."""
        if not armed.resent and _is_pytest_timeout_handler(signal.getsignal(signal.SIGALRM)):
            armed.resent = True
            armed.deadline = _now() + grace_period(armed.timeout)
            signal.pthread_kill(self.target, signal.SIGALRM)
            return
        _end_process(armed)


def _end_process(armed: _Armed) -> None:
    """Say which test, show where every thread is, and end the process: nothing in-process can stop it."""
    capture = armed.item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with contextlib.suppress(Exception):  # the test's capture may be half torn down; the message matters more
            capture.suspend_global_capture(in_=True)
    message = (
        f"\n+++ prunebench: {armed.item.nodeid} ran past its {armed.timeout:g} s limit and pytest-timeout's "
        "SIGALRM did not stop it (the code under test cancelled or replaced it): ending this process\n"
    )
    os.write(2, message.encode())
    sys.stdout.flush()
    faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
    os._exit(KILLED_EXIT)
