"""Backends that misbehave — raise on import, hang, kill their worker, change torch's globals — never take
the harness down: each is reported against the test it broke, and the rest of the run goes on."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from .conftest import SUITES, run_suites

STEP_SUITE = str(SUITES / "test_step.py")
ONE_STEP_TEST = "-k=test_step_applies_update_mask"


def _backend(pytester: pytest.Pytester, name: str, step_body: str) -> str:
    """A module backend: the reference, except that its BaseSparsifier.step() runs ``step_body`` first."""
    source = f"""
        import os, time
        import torch
        from prunebench import reference_impl
        from prunebench.reference_impl import *  # noqa: F403

        name = {name!r}

        class BaseSparsifier(reference_impl.BaseSparsifier):
            def step(self):
                {step_body}
                return super().step()
        """
    pytester.makepyfile(**{name: textwrap.dedent(source)})
    pytester.syspathinsert()
    return name


def _scoreboard_row(output: str, backend: str, suite: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(backend) and f" {suite} " in line)


def test_backend_raising_on_import_is_a_usage_error(pytester):
    pytester.makepyfile(exploding="raise RuntimeError('library initialisation failed: no licence server')")
    pytester.syspathinsert()
    result = run_suites(pytester, STEP_SUITE, "--backend=exploding")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    error = result.stderr.str()
    assert "importing 'exploding' raised RuntimeError: library initialisation failed" in error, error
    assert "Traceback" not in error, f"a usage error, not a traceback:\n{error}"


def test_hanging_backend_fails_one_test_on_timeout(pytester):
    backend = _backend(pytester, "hanging", "time.sleep(3600)")
    result = pytester.runpytest_subprocess(STEP_SUITE, f"--backend={backend}", "--timeout=2", "-p", "no:cacheprovider")
    output = result.stdout.str()
    assert "Timeout" in output, output
    row = _scoreboard_row(output, backend, "step")
    assert row.split()[3] != "0", f"the hung tests are not counted as failed: {row}"  # backend suite passed failed


def test_backend_killing_its_worker_is_reported_as_crashed(pytester):
    backend = _backend(pytester, "crashing", "os._exit(3)")
    result = pytester.runpytest_subprocess(
        STEP_SUITE, ONE_STEP_TEST, f"--backend={backend}", "-n=1", "-p", "no:cacheprovider"
    )
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    assert "crashed while running" in output, output
    row = _scoreboard_row(output, backend, "step")
    crashed_column = 3  # backend, suite, passed, failed, crashed, ...
    assert row.split()[crashed_column + 1] == "1", f"the crash is not counted as crashed: {row}"


@pytest.mark.parametrize(
    ("mutation", "symptom"),
    [
        ("torch.set_default_dtype(torch.float64)", "default_dtype: torch.float32 -> torch.float64"),
        ("torch.set_grad_enabled(False)", "grad_enabled: True -> False"),
        ("torch.manual_seed(0)", "rng_seed:"),
        ("torch.set_num_threads(1) if torch.get_num_threads() != 1 else torch.set_num_threads(2)", "num_threads:"),
        ("torch.set_flush_denormal(True)", "flush_denormal: False -> True"),
        ("torch.set_float32_matmul_precision('medium')", "float32_matmul_precision: highest -> medium"),
        ("torch.backends.cudnn.__setattr__('allow_tf32', not torch.backends.cudnn.allow_tf32)", "cudnn_allow_tf32:"),
        ("os.chdir('/')", "working_directory:"),
        ("os.environ.__setitem__('OMP_NUM_THREADS', '1')", "environment: variables ['OMP_NUM_THREADS']"),
        ("setattr(time, 'perf_counter', lambda: 0.0)", "clocks: time.perf_counter replaced"),
    ],
    ids=[
        "default_dtype",
        "grad_mode",
        "reseeded_rng",
        "num_threads",
        "flush_denormal",
        "matmul_precision",
        "cudnn_tf32",
        "cwd",
        "environment",
        "clock",
    ],
)
def test_global_state_mutation_fails_the_test_and_is_undone(pytester, mutation, symptom):
    backend = _backend(pytester, "mutating", mutation)
    # the reference runs after the mutating backend in the same process: it must not see the change
    result = run_suites(pytester, STEP_SUITE, f"--backend={backend},reference", "-p", "no:randomly")
    output = result.stdout.str()
    assert "the backend changed torch's process-wide state" in output and symptom in output, output
    assert _scoreboard_row(output, backend, "step").split()[3] != "0", output
    reference = _scoreboard_row(output, "reference", "step").split()
    assert reference[3] == "0", f"the mutation leaked into the reference's tests:\n{output}"


def _xfails_everything_in(pytester: pytest.Pytester, test: str) -> str:
    """A user file declaring the one step test an expected failure, whatever happens in it."""
    path = pytester.path / "known.txt"
    path.write_text(f"test_step.py::{test}[ | library bug: claimed broken\n")
    return f"--xfails={path}"


@pytest.mark.parametrize(
    ("step_body", "extra", "symptom"),
    [
        ("time.sleep(3600)", ("--timeout=2",), "the test timed out"),
        ("torch.set_grad_enabled(False)", (), "the test changed process-wide state"),
    ],
    ids=["timeout", "global_state"],
)
def test_an_expected_failure_never_covers_a_harness_fault(pytester, step_body, extra, symptom):
    backend = _backend(pytester, "faulty", step_body)
    xfails = _xfails_everything_in(pytester, "test_step_applies_update_mask")
    result = pytester.runpytest_subprocess(
        STEP_SUITE, ONE_STEP_TEST, f"--backend={backend}", xfails, *extra, "-p", "no:cacheprovider", "-p", "no:xdist"
    )
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    assert symptom in output and "does not cover that" in output, output
    assert result.parseoutcomes().get("xfailed", 0) == 0, output


@pytest.mark.parametrize("prefix", ["*", "test_", "test_step.py::*", "*.py::test_x[", "::test_x["])
def test_overbroad_expected_failures_are_rejected(pytester, prefix):
    path = pytester.path / "broad.txt"
    path.write_text(f"{prefix} | library bug: everything\n")
    result = run_suites(pytester, STEP_SUITE, f"--xfails={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "could match tests of several modules or every test" in result.stderr.str(), result.stderr.str()


def _prunebench_run(pytester: pytest.Pytester, backend: str, report) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "prunebench.harness.cli",
        "run",
        f"--backend={backend}",
        "--suite=core",
        "-n=0",
        f"--report={report}",
    ]
    command += ["-k", "test_step_applies_update_mask or test_disabled_mask_update"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=pytester.path)


@pytest.mark.parametrize(
    ("step_body", "state"),
    [("os._exit(0)", "running"), ("pytest.exit('bye', returncode=0)", "cut short")],
    ids=["os_exit_0", "pytest_exit_0"],
)
def test_a_run_that_did_not_finish_is_never_green(pytester, tmp_path, step_body, state):
    backend = _backend(pytester, "quitting", f"import pytest; {step_body}")
    report = tmp_path / "report"
    report.mkdir()
    (report / "scoreboard.md").write_text("# a previous, green run\n")
    run = _prunebench_run(pytester, backend, report)
    assert run.returncode != 0, f"a run that stopped in its first test exited 0\n{run.stdout}\n{run.stderr}"
    assert json.loads((report / "run.json").read_text())["state"] == state
    scoreboard = report / "scoreboard.md"
    assert not scoreboard.exists() or "**Incomplete: " in scoreboard.read_text(), scoreboard.read_text()
    said = run.stdout + run.stderr
    assert "did not finish" in said or "cut short after 0 of" in said, said


def test_pytest_exit_0_inside_a_test_fails_plain_pytest_too(pytester):
    backend = _backend(pytester, "quitting", "import pytest; pytest.exit('bye', returncode=0)")
    result = pytester.runpytest_subprocess(
        STEP_SUITE, f"--backend={backend}", "-p", "no:cacheprovider", "-p", "no:xdist"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    assert "cut short after 0 of 4 tests" in result.stdout.str(), result.stdout.str()


@pytest.mark.parametrize(
    ("mutation", "symptom"),
    [
        ("torch.set_grad_enabled(False)", "grad_enabled: True -> False"),
        ("torch.set_flush_denormal(True)", "flush_denormal: False -> True"),
        ("import time; time.perf_counter = lambda: 0.0", "clocks: time.perf_counter replaced"),
        ("import warnings; warnings.simplefilter('error')", "warnings filters: error for Warning added"),
    ],
    ids=["grad_mode", "flush_denormal", "clock", "warnings_error"],
)
def test_global_state_changed_at_import_is_a_usage_error(pytester, mutation, symptom):
    header = "import torch\nimport reference_impl\nfrom reference_impl import *  # noqa\nname = 'importing'\n"
    pytester.makepyfile(importing=f"{header}{mutation}\n")
    pytester.syspathinsert()
    result = run_suites(pytester, STEP_SUITE, "--backend=importing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "importing backend(s) importing changed process-wide state" in result.stderr.str(), result.stderr.str()
    assert symptom in result.stderr.str(), result.stderr.str()
