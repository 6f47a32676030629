"""Threads and child processes a test leaves running, and which backend started each thread.

A backend's ``step()`` that starts a thread or a process and returns leaves work running into the next
test: a thread that reseeds torch a moment later changes what an unrelated test computes (and, in a
run of several backends in one process, another backend's test gets the blame); a non-daemon thread or
a ``multiprocessing`` child keeps the interpreter from exiting after the last test. The plugin snapshots
what runs before each test's call and, after it, gives new threads a moment (``THREAD_GRACE_S``) to end,
then reports what is still running against that test: child processes are killed, threads (which Python
cannot stop) are remembered with the backend and test that started them, so that a later change to
process-wide state can be attributed to them, never to an innocent backend (``suspects``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

EXIT_GRACE_S = 10.0
"""How long a process whose tests are done may go on running threads the backend left before it is ended
(``$PRUNEBENCH_EXIT_GRACE`` seconds, for the harness's own tests)."""
EXIT_GRACE_ENV = "PRUNEBENCH_EXIT_GRACE"
THREAD_GRACE_S = 0.5
"""How long the threads a test started may take to end after it before they count as left running."""
_TASKS = Path("/proc/self/task")


@dataclass(frozen=True)
class Origin:
    """Who started a thread: a backend, in a test (or at import, ``test`` None)."""

    backend: str
    test: str | None

    def describe(self) -> str:
        return (
            f"backend {self.backend!r}'s test {self.test}" if self.test else f"the import of backend {self.backend!r}"
        )


_ORIGINS: dict[int, tuple[threading.Thread, Origin]] = {}
"""Threads left running by a test or an import, by ident, with who started them (process-wide)."""


def child_processes() -> frozenset[int]:
    """This process's running children (zombies, which wait only to be reaped, are not running)."""
    pids: set[int] = set()
    with contextlib.suppress(OSError):
        for task in _TASKS.iterdir():
            with contextlib.suppress(OSError):
                pids.update(int(pid) for pid in (task / "children").read_text().split())
    return frozenset(pid for pid in pids if not _is_zombie(pid))


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True  # gone already


@dataclass(frozen=True)
class Running:
    """What runs in this process besides the test: its threads and child processes."""

    threads: frozenset[int]
    children: frozenset[int]

    @classmethod
    def now(cls) -> Running:
        return cls(frozenset(t.ident for t in threading.enumerate() if t.ident is not None), child_processes())


@dataclass(frozen=True)
class Leaks:
    """What a test left running."""

    threads: tuple[threading.Thread, ...]
    children: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.threads or self.children)

    @property
    def keep_process_alive(self) -> bool:
        """A non-daemon thread or a child process: what the test may not leave (daemon threads are noted)."""
        return bool(self.children) or any(not thread.daemon for thread in self.threads)

    def describe(self) -> str:
        parts = [
            f"thread {thread.name!r} ({'daemon' if thread.daemon else 'non-daemon: it keeps the process from exiting'})"
            for thread in self.threads
        ]
        parts += [f"child process {pid} (killed)" for pid in self.children]
        return "; ".join(parts)


INFRASTRUCTURE = ("tqdm", "torch", "execnet", "_pytest", "xdist", "pytest_timeout", "prunebench.harness")
"""Packages whose own threads (a progress bar's monitor, torch's compile workers) run for the process's life:
started during a test, they are not the backend's doing."""


def _code_module(thread: threading.Thread) -> str:
    """The module of the code a thread runs: its target's, else its class's."""
    target = getattr(thread, "_target", None)
    return str(getattr(target, "__module__", None) or type(thread).__module__)


def _infrastructure(thread: threading.Thread) -> bool:
    module = _code_module(thread)
    return any(module == package or module.startswith(f"{package}.") for package in INFRASTRUCTURE)


def left_running(before: Running, grace: float = THREAD_GRACE_S) -> Leaks:
    """The threads and child processes started since ``before`` that are still running after ``grace``.

    Daemon threads are remembered (a later change to process-wide state may be theirs) but do not keep the
    process alive; non-daemon threads do. Threads of ``INFRASTRUCTURE`` are not the backend's.
    """
    deadline = time.monotonic() + grace
    new = [t for t in threading.enumerate() if t.ident not in before.threads and not _infrastructure(t)]
    for thread in new:
        thread.join(max(0.0, deadline - time.monotonic()))
    children = sorted(child_processes() - before.children)
    return Leaks(tuple(t for t in new if t.is_alive()), tuple(children))


def clean_up(leaks: Leaks, origin: Origin) -> None:
    """Kill the child processes (and reap them); remember who started the threads (they cannot be stopped)."""
    for pid in leaks.children:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    _forget_multiprocessing_children()
    for thread in leaks.threads:
        if thread.ident is not None:
            _ORIGINS[thread.ident] = (thread, origin)


def _forget_multiprocessing_children() -> None:
    """``multiprocessing`` joins its children at exit: let it see that the killed ones are gone."""
    import multiprocessing

    multiprocessing.active_children()


def remember_threads(before: Running, origin: Origin) -> None:
    """Threads started since ``before`` (a backend's import) are that backend's."""
    for thread in threading.enumerate():
        if thread.ident is not None and thread.ident not in before.threads:
            _ORIGINS[thread.ident] = (thread, origin)


def suspects(backend: str, other: bool = True) -> list[Origin]:
    """Who may have changed process-wide state besides the test: live threads started by another backend
    (``other``), or by ``backend`` itself in an earlier test or its import."""
    alive = [
        origin for thread, origin in _ORIGINS.values() if thread.is_alive() and (origin.backend != backend) == other
    ]
    return list(dict.fromkeys(alive))


def lingering(since: Running, children: bool = True) -> list[str]:
    """Non-daemon threads (and, where tests ran in this process, child processes) started since ``since`` that
    still run after the last test: what would keep the process from exiting. An xdist controller's children
    are its workers; a session that pytester runs inside a test has its host's threads, older than it."""
    main = threading.main_thread()
    threads = [
        t
        for t in threading.enumerate()
        if t is not main and not t.daemon and t.is_alive() and t.ident not in since.threads
    ]
    found = [f"thread {t.name!r}" + (f" (started by {_origin(t)})" if t.ident in _ORIGINS else "") for t in threads]
    return found + ([f"child process {pid}" for pid in sorted(child_processes() - since.children)] if children else [])


def _origin(thread: threading.Thread) -> str:
    return _ORIGINS[thread.ident][1].describe() if thread.ident is not None else "?"


def exit_grace() -> float:
    try:
        return max(0.0, float(os.environ.get(EXIT_GRACE_ENV, EXIT_GRACE_S)))
    except ValueError:
        return EXIT_GRACE_S


def lingering_note(found: list[str]) -> str:
    return (
        f"after its last test this process still ran {'; '.join(found)}: they would keep it from exiting, so it "
        f"is ended {exit_grace():g} s after its report is written"
    )


def end_process_after(grace: float, status: int, found: list[str]) -> None:
    """End this process ``grace`` seconds from now unless it exits by itself first: the interpreter waits for
    every non-daemon thread and ``multiprocessing`` child at exit, and no Python code can stop a thread."""

    def end() -> None:
        time.sleep(grace)
        message = (
            f"\nprunebench: the tests finished {grace:g} s ago but this process is still kept alive by "
            f"{'; '.join(found)} (left by the backend): ending it with status {status}\n"
        )
        os.write(2, message.encode("utf-8", "backslashreplace"))
        os._exit(status)

    threading.Thread(target=end, name="prunebench exit watchdog", daemon=True).start()
