"""Process control of a conformance run: time limits, worker processes and signals (loaded by ``harness.plugin``).

Hooks only; the mechanisms live in ``harness.import_limit`` (backend imports), ``harness.stuck_test``
(tests that cancel pytest-timeout's SIGALRM) and ``harness.run_status`` (the report's marker). Its
``pytest_cmdline_main`` wrapper runs before any plugin's own ``pytest_cmdline_main`` (xdist's included)
and before ``pytest_configure``, where the plugin imports the backends.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from . import import_limit, leaks, run_status
from .activation import is_active
from .errors import UsageError
from .stuck_test import StuckTestWatchdog

IMPLICIT_DIST = pytest.StashKey[bool]()
"""Set here before xdist reads its options: the user named no ``--dist`` and no ``--tx``."""


def wants_lane_scheduling(config: pytest.Config) -> bool:
    """xdist would use ``load`` because the user chose no distribution: lanes instead (``harness.lane_scheduler``)."""
    return config.stash.get(IMPLICIT_DIST, False) and config.option.dist == "load"


WORKERS_ENV = "PRUNEBENCH_WORKERS"
DEFAULT_WORKERS = 1
"""xdist workers of a plain ``pytest`` run that chose none: one, so that a backend killing its process
(``os._exit``, a segfault) crashes one test, reported as crashed, and the run goes on."""
BENCHMARK_OPTIONS = ("benchmark_only", "benchmark_json", "benchmark_save", "benchmark_autosave", "benchmark_compare")
"""pytest-benchmark's options that ask for timings: it disables itself under xdist, so such runs stay serial."""
_WORKERS_CHOSEN = pytest.StashKey[int]()
_WATCHDOG = pytest.StashKey[StuckTestWatchdog]()
_SIGTERM = pytest.StashKey[Any]()
"""The SIGTERM handler in force before this session installed its own (restored at the end)."""
_EXIT_STATUS = pytest.StashKey[int]()
_RUNNING_AT_START = pytest.StashKey[leaks.Running]()
_SESSIONS: list[pytest.Config] = []
"""Configured sessions of this process: several when a test runs pytest in-process (pytester)."""
_STOPPED: list[str | None] = [None]
"""The signal that stopped this process's current session (``pytest_keyboard_interrupt`` gets no config)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prunebench", "prunebench conformance harness")
    group.addoption(
        import_limit.IMPORT_TIMEOUT_OPTION,
        dest="prunebench_import_timeout",
        default=None,
        help=f"seconds a backend's import may take before the run stops with a usage error (default: "
        f"${import_limit.IMPORT_TIMEOUT_ENV} or {import_limit.DEFAULT_IMPORT_TIMEOUT_S:g}; 0: no limit).",
    )


def _in_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Iterator[None]:
    """Before pytest (and xdist) act on the options: the import limit, and the default worker process."""
    try:
        option = config.option.prunebench_import_timeout
        import_limit.configure(import_limit.parse_timeout(option, import_limit.IMPORT_TIMEOUT_OPTION))
        workers = _default_workers(config)
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    if workers:
        config.option.numprocesses = workers
        config.stash[_WORKERS_CHOSEN] = workers
    # xdist will pick ``load`` (and turn -n into --tx specs): the user chose no distribution of their own
    config.stash[IMPLICIT_DIST] = getattr(config.option, "dist", "no") == "no" and not getattr(
        config.option, "tx", None
    )
    return (yield)


def _default_workers(config: pytest.Config) -> int:
    """The workers to start for the user, or 0 where the user chose (``-n``, ``--dist``, ``--tx``, ``-p
    no:xdist``), where xdist cannot help (``--pdb``, ``--trace``, ``--collect-only``, ``--looponfail``,
    ``--stepwise``), where it would disable pytest-benchmark (the perf suites), and inside a worker."""
    if _in_worker(config) or not config.pluginmanager.hasplugin("xdist") or not is_active(config):
        return 0
    option = config.option
    chosen = option.numprocesses is not None or option.dist != "no" or option.tx or option.distload
    serial = any(getattr(option, name, False) for name in ("usepdb", "trace", "collectonly", "looponfail", "stepwise"))
    benchmarking = any(getattr(option, name, None) for name in BENCHMARK_OPTIONS)
    perf = any("perf" in str(arg) for arg in config.args)  # as suites/conftest.py: perf runs only when named
    if chosen or serial or benchmarking or perf:
        return 0
    raw = os.environ.get(WORKERS_ENV, str(DEFAULT_WORKERS))
    try:
        workers = int(raw)
    except ValueError:
        workers = -1
    if workers < 0:
        raise UsageError(f"${WORKERS_ENV} {raw!r}: expected a number of worker processes >= 0 (0: none)")
    return workers


def pytest_report_header(config: pytest.Config) -> str | None:
    workers = config.stash.get(_WORKERS_CHOSEN, 0)
    if not workers:
        return None
    return (
        f"prunebench: tests run in {workers} xdist worker process(es), so a backend that kills its process "
        f"crashes one test (-n0 or ${WORKERS_ENV}=0: in this process)"
    )


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received: the run stops here")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM ends the session as Ctrl-C does (interrupted, report written) instead of killing it silently."""
    _SESSIONS.append(config)  # every session, so that one pytester runs inside a test is told apart
    config.stash[_RUNNING_AT_START] = leaks.Running.now()
    if _in_worker(config) or threading.current_thread() is not threading.main_thread() or not is_active(config):
        return
    config.stash[_SIGTERM] = signal.signal(signal.SIGTERM, _raise_interrupt)


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Remember what stopped the session, for ``pytest_unconfigure`` to write into the report's marker.

    pytest calls this hook for ``pytest.exit()`` too: that is no signal, and its run stays "cut short".
    """
    if isinstance(excinfo.value, KeyboardInterrupt):
        _STOPPED[0] = "SIGTERM" if str(excinfo.value).startswith("SIGTERM") else "SIGINT"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(session.exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After the plugin wrote its report: mark it interrupted, put back what this session changed, and make
    sure threads or processes the backend left running cannot keep the process from exiting."""
    _end_lingering_process(config)
    watchdog = config.stash.get(_WATCHDOG, None)
    if watchdog is not None:
        watchdog.stop()
    import_limit.configure(None)
    if _SIGTERM in config.stash:
        previous = config.stash[_SIGTERM]
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    reason, _STOPPED[0] = _STOPPED[0], None
    directory = getattr(config.option, "prunebench_report_dir", None)
    if reason is not None and directory and not _in_worker(config):
        run_status.interrupt(directory, reason)


def _end_lingering_process(config: pytest.Config) -> None:
    """Non-daemon threads or child processes still running: the process is ended after a grace period
    (never with status 0: the backend left it unable to exit). An xdist controller's children are its workers."""
    if config in _SESSIONS:
        _SESSIONS.remove(config)
    if _SESSIONS or threading.current_thread() is not threading.main_thread():
        return  # a session pytester runs inside a test: the process goes on
    if not is_active(config):
        return  # a run that does not use prunebench runs no backend: what it leaves is its own business
    distributed = not _in_worker(config) and bool(getattr(config.option, "numprocesses", None))
    found = leaks.lingering(config.stash.get(_RUNNING_AT_START, leaks.Running.now()), children=not distributed)
    if found:
        status = config.stash.get(_EXIT_STATUS, int(pytest.ExitCode.TESTS_FAILED)) or int(pytest.ExitCode.TESTS_FAILED)
        leaks.end_process_after(leaks.exit_grace(), status, found)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    """Watch the test pytest-timeout is about to time (its own timer is armed by its implementation)."""
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return  # the thread method cannot be cancelled by the code under test
    if not is_active(item.config):
        return
    watchdog = item.config.stash.get(_WATCHDOG, None)
    if watchdog is None:
        watchdog = item.config.stash[_WATCHDOG] = StuckTestWatchdog()
        watchdog.start()
    watchdog.arm(item, float(settings.timeout))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    watchdog = item.config.stash.get(_WATCHDOG, None)
    if watchdog is not None:
        watchdog.disarm()
