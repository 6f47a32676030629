"""A CPU-bound load beside a measurement: one busy process per core, started and stopped by the perf suite.

Users run pruning on machines that are doing other work; an operation made of many parallel regions waits, in
each of them, for the slowest of its threads, and a thread whose core is taken can wait a whole scheduler
slice. ``CpuLoad`` reproduces that: ``processes`` children that spin in pure Python (no torch, no threads of
their own), each holding one core while the measurement runs.

It can never be left running: ``stop`` (the context manager's exit, so also on an exception or Ctrl-C)
terminates and reaps every child; a child that outlives its parent anyway (the parent SIGKILLed) sees its
parent change within milliseconds and exits, and none outlives ``limit_s``, its own deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

LIMIT_S = 900.0
"""A busy child exits by itself this long after it started, whatever happens to its parent."""
READY_TIMEOUT_S = 60.0
"""How long ``start`` waits for every child to report that it spins (Python's start-up, on a loaded machine)."""
STOP_GRACE_S = 5.0
"""After SIGTERM, how long a child has to exit before SIGKILL."""
SPIN = """
import os, sys, time
parent, deadline = int(sys.argv[1]), float(sys.argv[2])
sys.stdout.write("spinning\\n")
sys.stdout.flush()
while os.getppid() == parent and time.monotonic() < deadline:
    for _ in range(20000):  # a few milliseconds of pure CPU between looks at the parent and the clock
        pass
"""
"""A child's program: spin until the parent is gone (a new parent: reparented) or the deadline passes."""


class CpuLoad:
    """``with CpuLoad(): ...``: one spinning process per core (or ``processes``) while the block runs."""

    def __init__(self, processes: int | None = None, limit_s: float = LIMIT_S) -> None:
        count = processes if processes is not None else (os.cpu_count() or 1)
        if count < 1:
            raise ValueError(f"processes {count!r}: expected at least 1 busy process")
        if not limit_s > 0:
            raise ValueError(f"limit_s {limit_s!r}: expected a positive number of seconds")
        self.processes = count
        self.limit_s = limit_s
        self.children: list[subprocess.Popen[str]] = []

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self.children]

    def start(self) -> CpuLoad:
        """Start the children and return once each of them spins (or raise, having stopped them)."""
        deadline = time.monotonic() + self.limit_s
        try:
            for _ in range(self.processes):
                self.children.append(
                    subprocess.Popen(
                        [sys.executable, "-c", SPIN, str(os.getpid()), repr(deadline)],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                        text=True,
                        start_new_session=True,  # a Ctrl-C meant for the run reaches its own stop, not these
                    )
                )
            for child in self.children:
                self._wait_until_spinning(child)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _wait_until_spinning(child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        os.set_blocking(child.stdout.fileno(), True)
        started = time.monotonic()
        line = child.stdout.readline()  # the child writes one line, then spins
        if line.strip() != "spinning":
            raise RuntimeError(
                f"a busy process (pid {child.pid}) did not start within {time.monotonic() - started:.1f} s "
                f"(exit status {child.poll()})"
            )

    def stop(self) -> None:
        """Terminate and reap every child (SIGKILL for one that ignores SIGTERM); safe to call twice."""
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
        self.children = []

    def __enter__(self) -> CpuLoad:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an exited child nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
