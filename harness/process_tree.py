"""Runs ``prunebench``'s pytest child so that SIGINT / SIGTERM stop the whole process tree, never orphan it.

The child starts in its own session (so its process group holds it and its xdist workers, and a
terminal's Ctrl-C reaches only ``prunebench``, which decides). On SIGINT or SIGTERM:

- SIGINT goes to the whole group, whichever of the two arrived, as a terminal's Ctrl-C would: pytest's
  controller ends its session as interrupted and writes its report as cut short, and the workers
  stop their tests (SIGTERM would kill the workers first, and xdist would replace them);
- after a grace period (``$PRUNEBENCH_STOP_GRACE``, 10 s; at once on a second signal) whatever is left
  of the group is SIGKILLed, and the group is SIGKILLed once more after the child exits, for workers
  that outlived it;
- ``RunInterruptedError`` tells the caller which signal, so it marks the report and exits 128 + signal.

A process that leaves the group on purpose (``setsid``) escapes: the harness defends against accidents,
not against code written to deceive it (README, "Trust model").
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence

STOP_GRACE_ENV = "PRUNEBENCH_STOP_GRACE"
DEFAULT_STOP_GRACE_S = 10.0
"""Seconds an interrupted run gets to write its report before its processes are killed."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_S = 0.1
"""How often the parent looks at its child and at the signals it received (an idle parent's only work)."""


class RunInterruptedError(Exception):
    """The run was stopped by ``signum``; its process tree is gone when this is raised."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


def stop_grace() -> float:
    """``$PRUNEBENCH_STOP_GRACE`` (the harness's tests set it low), else the default."""
    try:
        return max(0.0, float(os.environ.get(STOP_GRACE_ENV, DEFAULT_STOP_GRACE_S)))
    except ValueError:
        return DEFAULT_STOP_GRACE_S


@contextlib.contextmanager
def _recording_stop_signals(received: list[int]) -> Iterator[None]:
    """SIGINT / SIGTERM are noted, not acted on, for as long as the child runs: no exception can land
    between two steps of stopping it, and the parent cannot die before its child."""
    previous = {signum: signal.signal(signum, lambda number, frame: received.append(number)) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, signum)


def _wait(child: subprocess.Popen[bytes], seconds: float) -> int | None:
    try:
        return child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def run_process_tree(command: Sequence[str]) -> int:
    """Run ``command`` to its end and return its status; raise ``RunInterruptedError`` after a stop signal."""
    received: list[int] = []
    with _recording_stop_signals(received):
        child = subprocess.Popen(list(command), start_new_session=True)
        kill_at: float | None = None
        status = _wait(child, POLL_S)
        while status is None:
            if received and kill_at is None:
                _signal_group(child.pid, signal.SIGINT)
                kill_at = time.monotonic() + stop_grace()
            if kill_at is not None and (time.monotonic() >= kill_at or len(received) > 1):  # 2nd signal: now
                _signal_group(child.pid, signal.SIGKILL)
            status = _wait(child, POLL_S)
        _signal_group(child.pid, signal.SIGKILL)  # workers the child left behind (it is gone: only they are)
    if received:
        raise RunInterruptedError(received[0])
    return status
