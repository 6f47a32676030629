"""SIGTERM and SIGINT stop a run cleanly: ``prunebench run`` takes its whole process tree down (pytest and its
xdist workers), marks the report interrupted, says so in one line and exits 128 + the signal; plain pytest
ends its session as interrupted (``harness.process_tree``, ``harness.watchdog``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prunebench.harness.process_tree import STOP_GRACE_ENV
from prunebench.harness.watchdog import WORKERS_ENV

from .test_misbehaving_backends import STEP_SUITE, _backend

STARTED_ENV = "HANGING_BACKEND_STARTED"
"""The file the hanging backend creates when its step() starts hanging: the moment to send the signal."""
HANG_LIMIT_S = 120
"""Hang detection only: waits longer than this mean the run did not start, or did not stop."""
STOP_GRACE_S = "3"
TWO_STEP_TESTS = "test_step_applies_update_mask or test_disabled_mask_update"


def _hanging_backend(pytester: pytest.Pytester) -> str:
    return _backend(pytester, "hanging", f"open(os.environ[{STARTED_ENV!r}], 'w').close(); time.sleep(3600)")


def _start(
    pytester: pytest.Pytester, command: list[str], started: Path, runs: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    """Start ``command`` and return once the backend hangs in a test (so its workers exist)."""
    environment = {**os.environ, STARTED_ENV: str(started), STOP_GRACE_ENV: STOP_GRACE_S}
    process = subprocess.Popen(
        command, cwd=pytester.path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    runs.append(process)
    deadline = time.monotonic() + HANG_LIMIT_S
    while not started.exists():
        assert process.poll() is None, f"the run ended before its test hung: {process.communicate()}"
        assert time.monotonic() < deadline, "the hanging test never started"
        time.sleep(0.2)
    return process


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc): pytest, its workers, anything they started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running or stopped, not a zombie waiting to be reaped."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def started_runs() -> Iterator[list[subprocess.Popen[str]]]:
    """The runs a test started; whatever is left of them when it ends (a failed test) is killed."""
    runs: list[subprocess.Popen[str]] = []
    yield runs
    for run in runs:
        for pid in _descendants(run.pid) | {run.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        run.wait()


def _survivors(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + 5  # a killed process's parent (or init) needs a moment to reap it
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {pid for pid in pids if _alive(pid)}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_prunebench_run_and_its_process_tree(pytester, tmp_path, started_runs, signum):
    backend = _hanging_backend(pytester)
    report = tmp_path / "report"
    report.mkdir()
    (report / "scoreboard.md").write_text("# a previous, green run\n")
    command = [
        sys.executable,
        "-m",
        "prunebench.harness.cli",
        "run",
        f"--backend={backend}",
        "-n=1",
        f"--report={report}",
    ]
    run = _start(pytester, [*command, "-k", TWO_STEP_TESTS], tmp_path / "started", started_runs)
    tree = _descendants(run.pid)
    assert len(tree) >= 2, f"expected pytest and its worker below prunebench: {tree}"
    run.send_signal(signum)
    stdout, stderr = run.communicate(timeout=HANG_LIMIT_S)
    assert run.returncode == 128 + signum, f"{run.returncode}\n{stdout}\n{stderr}"
    assert not _survivors(tree), f"processes of the run outlived it: {_survivors(tree)}"
    name = signal.Signals(signum).name
    assert stderr.strip().splitlines()[-1].startswith(f"prunebench: interrupted by {name}"), stderr
    assert "Traceback" not in stderr, stderr
    status = json.loads((report / "run.json").read_text())
    assert (status["state"], status["reason"]) == ("interrupted", name), status
    scoreboard = report / "scoreboard.md"
    assert not scoreboard.exists() or "previous, green" not in scoreboard.read_text(), "a stale report looks current"


def test_sigterm_ends_a_plain_pytest_session_as_interrupted(pytester, tmp_path, monkeypatch, started_runs):
    """No ``-n``: one worker by default; SIGTERM to pytest stops it and its worker, the report says interrupted."""
    monkeypatch.delenv(WORKERS_ENV)
    backend = _hanging_backend(pytester)
    command = [sys.executable, "-m", "pytest", STEP_SUITE, f"--backend={backend}", "-p", "no:cacheprovider"]
    options = ["-k", TWO_STEP_TESTS, f"--report-dir={tmp_path}"]
    session = _start(pytester, [*command, *options], tmp_path / "started", started_runs)
    tree = _descendants(session.pid)
    session.send_signal(signal.SIGTERM)
    stdout, stderr = session.communicate(timeout=HANG_LIMIT_S)
    assert session.returncode == pytest.ExitCode.INTERRUPTED, f"{stdout}\n{stderr}"
    assert "SIGTERM received" in stdout and "cut short after 0 of 2 tests" in stdout, stdout
    assert not _survivors(tree), f"the worker outlived pytest: {_survivors(tree)}"
    status = json.loads((tmp_path / "run.json").read_text())
    assert (status["state"], status["reason"], status["expected"]) == ("interrupted", "SIGTERM", 2), status
