"""The time limit on importing a backend: a module that hangs at import stops the run with a usage error.

The import runs in the calling (main) thread, as any import does: thread-local state it sets (grad mode,
the default device's mode stack) and signal handlers it installs behave as they would in the user's
program, so the global-state guard judges what the backend really does. A watchdog thread times it:

1. at the limit, it sends SIGALRM to the importing thread, whose handler (installed for the import only)
   raises ``ImportTimedOut`` there; the import unwinds and the caller reports a usage error;
2. if the handler is gone (the backend cancelled or replaced SIGALRM) or the import still has not
   unwound after a grace period (a bare ``except:`` swallowed it, or the hang is in C), the watchdog
   writes the error itself and ends the process with pytest's usage-error status. A hung import
   cannot be stopped in-process; the run can.

A thread per import costs well under a millisecond: nothing next to the import of torch itself.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import UsageError

DEFAULT_IMPORT_TIMEOUT_S = 60.0
"""Far above any real import (torch itself takes seconds), far below a CI job's limit."""
IMPORT_TIMEOUT_ENV = "PRUNEBENCH_IMPORT_TIMEOUT"
IMPORT_TIMEOUT_OPTION = "--import-timeout"
MAX_GRACE_S = 5.0
"""How long an interrupted import gets to unwind before the process is ended (at most the limit itself)."""
USAGE_EXIT = 4
"""pytest's ``ExitCode.USAGE_ERROR``, and ``prunebench``'s."""

_configured: float | None = None


class ImportTimedOut(BaseException):
    """Raised inside a hung import; a BaseException, so that a backend's ``except Exception`` cannot keep it."""


def parse_timeout(value: str | float | None, where: str) -> float | None:
    """Seconds from an option or the environment; 0 means no limit. A bad value is a usage error."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"{where} {value!r}: expected seconds, e.g. 60 (0: no limit)") from None
    if not seconds >= 0:  # also rejects nan
        raise UsageError(f"{where} {value!r}: expected seconds >= 0 (0: no limit)")
    return seconds


def configure(seconds: float | None) -> None:
    """Set the limit for this process (``--import-timeout``); None: ``$PRUNEBENCH_IMPORT_TIMEOUT`` or the default."""
    global _configured
    _configured = seconds


def import_timeout() -> float:
    """The limit in force: the option, else the environment, else ``DEFAULT_IMPORT_TIMEOUT_S``."""
    if _configured is not None:
        return _configured
    from_env = parse_timeout(os.environ.get(IMPORT_TIMEOUT_ENV), f"${IMPORT_TIMEOUT_ENV}")
    return DEFAULT_IMPORT_TIMEOUT_S if from_env is None else from_env


def timed_out_message(what: str, seconds: float, where: str) -> str:
    return (
        f"importing backend {what!r} did not finish within {seconds:g} s{where}; raise the limit with "
        f"{IMPORT_TIMEOUT_OPTION}=SECONDS or ${IMPORT_TIMEOUT_ENV} (0: no limit)"
    )


def _location(frame: FrameType | None) -> str:
    """`` (at FILE:LINE)``: the innermost frame outside Python's import machinery."""
    frames = [f for f in traceback.extract_stack(frame) if "importlib" not in f.filename] if frame else []
    return f" (stuck at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


class _Watchdog(threading.Thread):
    """Waits for the import to finish; past the limit, interrupts it, and past the grace, ends the process."""

    def __init__(self, what: str, seconds: float, handler: object) -> None:
        super().__init__(name=f"prunebench import limit {what}", daemon=True)
        self.what, self.seconds, self.handler = what, seconds, handler
        self.target = threading.get_ident()
        self.done = threading.Event()
        self.lock = threading.Lock()
        """Held while deciding to act: once ``finish`` returns, the watchdog neither signals nor exits."""

    def finish(self) -> None:
        with self.lock:
            self.done.set()

    def run(self) -> None:
        if self.done.wait(self.seconds):
            return
        with self.lock:
            interruptible = self.handler is not None and signal.getsignal(signal.SIGALRM) is self.handler
            if self.done.is_set() or not interruptible:
                return self._end_process_unless_done()
            signal.pthread_kill(self.target, signal.SIGALRM)
        if not self.done.wait(min(MAX_GRACE_S, self.seconds)):
            with self.lock:
                self._end_process_unless_done()
        return None

    def _end_process_unless_done(self) -> None:
        """The import cannot be interrupted: say why on stderr and end the run (called with the lock held)."""
        if self.done.is_set():
            return
        where = _location(sys._current_frames().get(self.target))
        os.write(2, f"ERROR: {timed_out_message(self.what, self.seconds, where)}\n".encode())
        os._exit(USAGE_EXIT)


@contextmanager
def limited_import(what: str) -> Iterator[None]:
    """Run the body (importing backend ``what``) under the limit; raise ``UsageError`` when it is exceeded."""
    seconds = import_timeout()
    if seconds <= 0:
        yield
        return
    in_main = threading.current_thread() is threading.main_thread()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if not watchdog.done.is_set():  # a signal that arrives after the import finished is spent
            raise ImportTimedOut(_location(frame))

    watchdog = _Watchdog(what, seconds, interrupt if in_main else None)
    previous = signal.signal(signal.SIGALRM, interrupt) if in_main else None
    watchdog.start()
    try:
        try:
            yield
        finally:
            watchdog.finish()
    except ImportTimedOut as stop:
        raise UsageError(timed_out_message(what, seconds, str(stop))) from None
    finally:
        if in_main:
            signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
