"""Time limits and worker processes: a backend that hangs at import, cancels pytest-timeout's SIGALRM or kills
its process never hangs the run nor turns it green (``harness.import_limit``, ``harness.stuck_test``,
``harness.watchdog``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from prunebench.harness import watchdog
from prunebench.harness.errors import UsageError

from .conftest import run_suites
from .test_misbehaving_backends import ONE_STEP_TEST, STEP_SUITE, _backend, _scoreboard_row

HANG_LIMIT_S = 120
"""A run under test that takes longer than this hung: its 1 s limits did not work (hang detection only)."""
TWO_STEP_TESTS = "-k=test_step_applies_update_mask or test_disabled_mask_update"
IGNORE_SIGALRM = "signal.signal(signal.SIGALRM, signal.SIG_IGN)"
HANGS_AT_IMPORT = {
    "busy_loop": "while True:\n    pass\n",
    "sleep": "import time\ntime.sleep(10**6)\n",
    "ignores_sigalrm": f"import signal, time\n{IGNORE_SIGALRM}\ntime.sleep(10**6)\n",
    "swallows": "import time\nwhile True:\n    try:\n        time.sleep(9)\n    except BaseException:\n        pass",
}
"""Module bodies that never finish importing: the first two can be interrupted in-process, the others cannot."""


@pytest.mark.parametrize("hang", ["ignores_sigalrm", "swallows"])
def test_backend_hanging_at_import_beyond_interruption_ends_the_run_with_a_usage_error(pytester, hang):
    """SIGALRM defeated: the watchdog thread itself reports and ends the process (so: a subprocess here)."""
    pytester.makepyfile(stuck=HANGS_AT_IMPORT[hang])
    result = pytester.runpytest_subprocess(
        STEP_SUITE, "--backend=stuck", "--import-timeout=1", "-p", "no:cacheprovider", timeout=HANG_LIMIT_S
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    error = result.stderr.str()
    assert "importing backend 'stuck' did not finish within 1 s (stuck at " in error, error
    assert "stuck.py:" in error, f"the line it hung at is not named:\n{error}"
    assert "Traceback" not in error, error


@pytest.mark.parametrize("hang", ["busy_loop", "sleep"])
def test_backend_hanging_at_import_is_interrupted_in_process(pytester, hang):
    """Interruptible hangs unwind in the importing process itself: pytester's in-process run returns."""
    pytester.makepyfile(**{f"stuck_{hang}": HANGS_AT_IMPORT[hang]})
    pytester.syspathinsert()
    result = run_suites(pytester, STEP_SUITE, f"--backend=stuck_{hang}", "--import-timeout=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    error = result.stderr.str()
    assert f"importing backend 'stuck_{hang}' did not finish within 1 s (stuck at " in error, error
    assert f"stuck_{hang}.py:" in error, error


def test_prunebench_run_passes_its_import_timeout_on(pytester, tmp_path):
    pytester.makepyfile(stuck=HANGS_AT_IMPORT["sleep"])
    command = [sys.executable, "-m", "prunebench.harness.cli", "run", "--backend=stuck", "--import-timeout=1", "-n=0"]
    run = subprocess.run(
        [*command, f"--report={tmp_path}"], capture_output=True, text=True, cwd=pytester.path, timeout=HANG_LIMIT_S
    )
    assert run.returncode == 4, run.stdout + run.stderr
    assert "importing backend 'stuck' did not finish within 1 s" in run.stderr, run.stderr


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_import_timeout_must_be_seconds(pytester, value):
    result = run_suites(pytester, STEP_SUITE, f"--import-timeout={value}", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert f"--import-timeout {value!r}: expected seconds" in result.stderr.str(), result.stderr.str()


@pytest.mark.parametrize(
    ("step_body", "options", "outcome_column"),
    [
        # only the alarm is cancelled: the watchdog re-sends SIGALRM and the test fails in place
        ("signal.alarm(0); time.sleep(3600)", ("-p", "no:xdist"), "failed"),
        # SIGALRM ignored: nothing in-process can stop the test; its worker is killed and the test crashes
        (f"{IGNORE_SIGALRM}; time.sleep(3600)", ("-n=1",), "crashed"),
    ],
    ids=["alarm_cancelled", "sigalrm_ignored"],
)
def test_backend_cancelling_sigalrm_is_still_stopped(pytester, step_body, options, outcome_column):
    backend = _backend(pytester, "unalarmed", f"import signal; {step_body}")
    known = pytester.path / "known.txt"  # an expected-failure entry must not excuse it either
    known.write_text("test_step.py::test_step_applies_update_mask[ | library bug: claimed broken\n")
    result = pytester.runpytest_subprocess(
        STEP_SUITE, ONE_STEP_TEST, f"--backend={backend}", f"--xfails={known}", "--timeout=1", *options,
        "-p", "no:cacheprovider", timeout=HANG_LIMIT_S,
    )  # fmt: skip
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    row = _scoreboard_row(output, backend, "step").split()
    columns = ["backend", "suite", "passed", "failed", "crashed", "xfailed"]
    assert row[columns.index(outcome_column)] == "1", f"the test must count {outcome_column}:\n{output}"
    assert row[columns.index("xfailed")] == "0" and row[columns.index("passed")] == "0", output


def test_backend_ignoring_sigalrm_without_workers_ends_the_run_never_green(pytester, tmp_path):
    backend = _backend(
        pytester, "unalarmed", "import signal; signal.signal(signal.SIGALRM, signal.SIG_IGN); time.sleep(3600)"
    )
    result = pytester.runpytest_subprocess(
        STEP_SUITE, ONE_STEP_TEST, f"--backend={backend}", "--timeout=1", "-p", "no:xdist", "-p", "no:cacheprovider",
        f"--report-dir={tmp_path}", timeout=HANG_LIMIT_S,
    )  # fmt: skip
    assert result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout.str()
    assert "ran past its 1 s limit and pytest-timeout's SIGALRM did not stop it" in result.stderr.str()
    assert json.loads((tmp_path / "run.json").read_text())["state"] == "running"


def test_plain_pytest_runs_a_backend_that_kills_its_process_in_a_worker(pytester, monkeypatch, tmp_path):
    """No ``-n``: one worker by default, so ``os._exit(0)`` in step() crashes each test and the run goes on."""
    monkeypatch.delenv(watchdog.WORKERS_ENV)
    backend = _backend(pytester, "quitting", "os._exit(0)")
    result = pytester.runpytest_subprocess(
        STEP_SUITE, TWO_STEP_TESTS, f"--backend={backend}", f"--report-dir={tmp_path}", "-p", "no:cacheprovider",
        timeout=HANG_LIMIT_S,
    )  # fmt: skip
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    assert "tests run in 1 xdist worker process" in output, output
    assert _scoreboard_row(output, backend, "step").split()[4] == "2", f"two crashed tests expected:\n{output}"
    assert f"## {backend}: crashed" in (tmp_path / "scoreboard.md").read_text()


@pytest.mark.parametrize(
    ("args", "environment", "workers"),
    [
        ((), None, watchdog.DEFAULT_WORKERS),
        ((), "3", 3),
        ((), "0", 0),
        (("-n0",), None, 0),
        (("-n", "2"), None, 0),  # the user's own choice: xdist applies it, the watchdog adds nothing
        (("-p", "no:xdist"), None, 0),
        (("--dist=loadfile",), None, 0),
        (("--pdb",), None, 0),
        (("--collect-only",), None, 0),
        (("suites/perf",), None, 0),
        (("--benchmark-json=raw.json",), None, 0),
    ],
    ids=["default", "env_3", "env_0", "n0", "n2", "no_xdist", "dist", "pdb", "collect_only", "perf", "benchmark"],
)
def test_default_workers_only_where_the_user_chose_none(pytester, monkeypatch, args, environment, workers):
    monkeypatch.delenv(watchdog.WORKERS_ENV)
    if environment is not None:
        monkeypatch.setenv(watchdog.WORKERS_ENV, environment)
    config = pytester.parseconfig("--backend=reference", *args)  # a run that uses prunebench
    assert watchdog._default_workers(config) == workers


def test_no_default_workers_in_a_run_that_does_not_use_prunebench(pytester, monkeypatch):
    monkeypatch.delenv(watchdog.WORKERS_ENV, raising=False)
    monkeypatch.delenv("PRUNEBENCH_BACKEND", raising=False)
    assert watchdog._default_workers(pytester.parseconfig()) == 0


def test_bad_workers_environment_is_a_usage_error(pytester, monkeypatch):
    monkeypatch.setenv(watchdog.WORKERS_ENV, "many")
    with pytest.raises(UsageError, match="PRUNEBENCH_WORKERS 'many': expected a number"):
        watchdog._default_workers(pytester.parseconfig("--backend=reference"))
