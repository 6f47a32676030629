"""Runs ``prunebench``'s pytest children so that SIGINT / SIGTERM stop every process tree, never orphan one.

Each child starts in its own session (so its process group holds it and its xdist workers, and a
terminal's Ctrl-C reaches only ``prunebench``, which decides). Several children may run at once
(``harness.lanes``: one per backend), at most ``concurrency`` of them. On SIGINT or SIGTERM:

- no further child starts; SIGINT goes to every running group, whichever of the two arrived, as a
  terminal's Ctrl-C would: pytest's controller ends its session as interrupted and writes its report
  as cut short, and the workers stop their tests (SIGTERM would kill the workers first, and xdist would
  replace them);
- after a grace period (``$PRUNEBENCH_STOP_GRACE``, 10 s; at once on a second signal) whatever is left
  of the groups is SIGKILLed, and each group is SIGKILLed once more after its child exits, for workers
  that outlived it;
- ``RunInterruptedError`` tells the caller which signal, so it marks the report and exits 128 + signal.

A child whose work is done (its report says so: ``Child.done``) but whose process goes on running past
``LINGER_S`` (a thread the backend left keeps the interpreter from exiting, and the child's own exit
watchdog did not end it) is ended here, and ``Child.ended`` says why.

A process that leaves the group on purpose (``setsid``) escapes: the harness defends against accidents,
not against code written to deceive it (README, "Trust model").
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .leaks import exit_grace

STOP_GRACE_ENV = "PRUNEBENCH_STOP_GRACE"
DEFAULT_STOP_GRACE_S = 10.0
"""Seconds an interrupted run gets to write its report before its processes are killed."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_S = 0.1
"""How often the parent looks at its children and at the signals it received (an idle parent's only work)."""
LINGER_MARGIN_S = 20.0
"""How long past its own exit watchdog (``harness.leaks.exit_grace``) a child whose report says it is done may
run: for a child whose watchdog could not end it (a thread holding the interpreter in C code)."""


class RunInterruptedError(Exception):
    """The run was stopped by ``signum``; its process trees are gone when this is raised."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


@dataclass
class Child:
    """One child to run: its command, where its output goes, and how to tell its work is done."""

    command: Sequence[str]
    log: Path | None = None
    """A file for its stdout and stderr (several children at once); None: this process's own."""
    done: Callable[[], bool] | None = None
    """Whether its work is done (its report is complete): then it should exit promptly."""
    cwd: Path | None = None
    timeout: float | None = None
    """Seconds it may run; past them its process tree is killed (``ended`` says so)."""
    status: int | None = None
    ended: str | None = None
    """Why this parent ended it, if it did (it ran on after its work was done)."""
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _output: IO[bytes] | None = field(default=None, repr=False)
    _done_at: float | None = field(default=None, repr=False)
    _started_at: float = field(default=0.0, repr=False)


def stop_grace() -> float:
    """``$PRUNEBENCH_STOP_GRACE`` (the harness's tests set it low), else the default."""
    try:
        return max(0.0, float(os.environ.get(STOP_GRACE_ENV, DEFAULT_STOP_GRACE_S)))
    except ValueError:
        return DEFAULT_STOP_GRACE_S


@contextlib.contextmanager
def _recording_stop_signals(received: list[int]) -> Iterator[None]:
    """SIGINT / SIGTERM are noted, not acted on, for as long as the children run: no exception can land
    between two steps of stopping them, and the parent cannot die before its children."""
    previous = {signum: signal.signal(signum, lambda number, frame: received.append(number)) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, signum)


def _start(child: Child) -> None:
    if child.log is not None:
        child.log.parent.mkdir(parents=True, exist_ok=True)
        child._output = child.log.open("wb")
    output = child._output
    child._started_at = time.monotonic()
    child._process = subprocess.Popen(
        list(child.command), start_new_session=True, stdout=output, stderr=output, cwd=child.cwd
    )


def _end_if_lingering(child: Child) -> None:
    """End a child that ran past its time limit, or whose work is done but which goes on running past ``LINGER_S``."""
    assert child._process is not None
    if child.timeout is not None and time.monotonic() - child._started_at > child.timeout:
        child.ended = f"it ran past its limit of {child.timeout:g} s: ended by prunebench"
        _signal_group(child._process.pid, signal.SIGKILL)
        return
    if child.done is None or not child.done():
        return
    now = time.monotonic()
    child._done_at = child._done_at or now
    linger = exit_grace() + LINGER_MARGIN_S
    if now - child._done_at >= linger:
        child.ended = (
            f"its report was complete {linger:g} s before, but its process was still running (threads or "
            "processes the backend left): ended by prunebench"
        )
        _signal_group(child._process.pid, signal.SIGKILL)


def _reap(child: Child) -> bool:
    """Whether the child has exited (its group is then killed, for workers that outlived it)."""
    assert child._process is not None
    status = child._process.poll()
    if status is None:
        return False
    child.status = status
    _signal_group(child._process.pid, signal.SIGKILL)
    if child._output is not None:
        child._output.close()
    return True


def run_process_trees(
    children: Sequence[Child],
    concurrency: int = 1,
    on_exit: Callable[[Child], bool] | None = None,
    on_start: Callable[[Child], None] | None = None,
) -> None:
    """Run every child to its end, at most ``concurrency`` at once, in order; ``on_start`` and ``on_exit`` are
    called as each one starts and ends (``on_exit`` returning True stops the others: the run cannot go on).
    Raises ``RunInterruptedError`` after a stop signal, once every process tree is gone."""
    received: list[int] = []
    waiting, running = list(children), []
    kill_at: float | None = None
    with _recording_stop_signals(received):
        while waiting or running:
            while waiting and len(running) < max(1, concurrency) and not received:
                child = waiting.pop(0)
                if on_start is not None:
                    on_start(child)
                _start(child)
                running.append(child)
            time.sleep(POLL_S)
            if received and kill_at is None:
                for child in running:
                    _signal_group(child._process.pid, signal.SIGINT)  # type: ignore[union-attr]
                kill_at = time.monotonic() + stop_grace()
                waiting.clear()
            for child in list(running):
                if kill_at is not None and (time.monotonic() >= kill_at or len(received) > 1):  # 2nd signal: now
                    _signal_group(child._process.pid, signal.SIGKILL)  # type: ignore[union-attr]
                if not _reap(child):
                    _end_if_lingering(child)
                    continue
                running.remove(child)
                if on_exit is not None and not received and on_exit(child):  # the run cannot go on
                    for other in running:
                        _signal_group(other._process.pid, signal.SIGKILL)  # type: ignore[union-attr]
                    waiting.clear()
    if received:
        raise RunInterruptedError(received[0])


def run_process_tree(command: Sequence[str]) -> int:
    """Run ``command`` to its end and return its status; raise ``RunInterruptedError`` after a stop signal."""
    child = Child(command)
    run_process_trees([child])
    assert child.status is not None
    return child.status
