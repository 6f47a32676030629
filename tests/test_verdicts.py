"""Issue #21's accidents, each a backend in ``tests/misbehaving`` (or ``tests/broken``), run as a user runs them:
``prunebench run`` / ``check`` in a subprocess. One shared run holds every accident that can share one (each
backend runs in a process of its own, which is itself what several rows need); the others run alone.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prunebench.harness.leaks import EXIT_GRACE_ENV
from prunebench.harness.results import load_results
from prunebench.harness.xfails import load_xfails

from .conftest import environment_outside_xdist

ROOT = Path(__file__).resolve().parent.parent
RUN_LIMIT_S = 900
"""Hang detection only."""
SHARED = {
    "fork": "tests.misbehaving.reference_fork",
    "patcher": "tests.misbehaving.patches_torch",
    "torch": "torch",
    "reseeder": "tests.misbehaving.reseeding_thread",
    "exits": "tests.misbehaving.exits_zero_at_exit",
    "huge": "tests.misbehaving.huge_message",
    "version": "tests.misbehaving.version_module",
}
NAMES = {
    "fork": "reference",
    "patcher": "patches-torch",
    "torch": "torch",
    "reseeder": "reseeding-thread",
    "exits": "exits-zero-at-exit",
    "surrogate": "surrogate-message",
    "huge": "huge-message",
    "version": "version-module",
}
SHARED_TESTS = (
    "test_nearly_diagonal_masks_match_reference or test_state_dict_survives_safe_torch_load "
    "or test_step_applies_update_mask"
)
REPORT_LIMIT_BYTES = 1 << 20
"""A report file of a run with a 10 MB message stays under this: messages are capped (the whole text kept aside)."""


@dataclass(frozen=True)
class Run:
    completed: subprocess.CompletedProcess
    report: Path

    @property
    def output(self) -> str:
        return self.completed.stdout + self.completed.stderr

    def document(self) -> dict[str, Any]:
        return json.loads((self.report / "conformance.json").read_text(encoding="utf-8"))

    def outcome(self, backend: str, test: str) -> str:
        (record,) = [
            r for r in self.document()["records"] if r["cell"]["backend"] == backend and test in r["cell"]["test"]
        ]
        return record["outcome"]

    def failures(self, backend: str) -> list[dict[str, Any]]:
        return [failure for failure in self.document()["failures"] if failure["backend"] == backend]


def prunebench(
    report: Path,
    *args: str,
    env: dict[str, str] | None = None,
    pytest_args: tuple[str, ...] = (),
    outside_xdist: bool = False,
) -> Run:
    """``prunebench ARGS --report=REPORT -- PYTEST_ARGS``; ``outside_xdist`` for a perf run, which must time its
    cases (pytest-benchmark times nothing in an xdist worker's environment, and this test may run in one)."""
    command = [sys.executable, "-m", "prunebench.harness.cli", *args, f"--report={report}"]
    command += ["--", *pytest_args] if pytest_args else []
    inherited = environment_outside_xdist() if outside_xdist else dict(os.environ)
    environment = {**inherited, **(env or {})}
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_LIMIT_S, cwd=ROOT, env=environment, errors="replace"
    )
    return Run(completed, report)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Eight accidents in one ``prunebench run``, with xdist workers (the channel a message must cross)."""
    report = tmp_path_factory.mktemp("shared") / "report"
    backends = ",".join(SHARED.values())
    return prunebench(
        report, "run", f"--backend={backends}", "--suite=core", "-n=2", "--reproduce=1", "-k", SHARED_TESTS
    )


def test_the_shared_run_is_red_and_complete(shared):
    assert shared.completed.returncode == 1, shared.output[-5000:]
    assert json.loads((shared.report / "run.json").read_text())["state"] == "complete"
    assert "INTERNALERROR" not in shared.output and "DumpError" not in shared.output, shared.output[-5000:]


def test_a_fork_named_reference_is_checked_by_the_differential_suite(shared):
    assert shared.outcome(NAMES["fork"], "test_nearly_diagonal_masks_match_reference") == "failed"


def test_a_backend_patching_torch_never_reaches_torchs_tests(shared):
    assert shared.outcome("torch", "test_state_dict_survives_safe_torch_load") == "xfailed"
    (patcher,) = [b for b in shared.document()["backends"] if b["name"] == NAMES["patcher"]]
    assert any("patched torch" in note and "BaseSparsifier.state_dict" in note for note in patcher["notes"]), patcher


def test_a_reseeding_thread_is_charged_to_its_backend_only(shared):
    assert shared.outcome("torch", "test_step_applies_update_mask") == "passed"
    messages = [failure["message"] for failure in shared.failures(NAMES["reseeder"])]
    assert messages and all("rng_seed" in message for message in messages), messages


def test_an_exit_status_of_0_at_exit_does_not_hide_failures(shared):
    assert shared.outcome(NAMES["exits"], "test_nearly_diagonal_masks_match_reference") == "failed"
    assert "failures recorded although pytest exited 0 in tests.misbehaving.exits_zero_at_exit" in shared.output


def test_a_message_utf8_cannot_encode_crosses_xdists_channel_escaped(tmp_path):
    backend = "--backend=tests.misbehaving.surrogate_message"
    run = prunebench(
        tmp_path / "report", "run", backend, "--suite=core", "-n=1", "--reproduce=0", "-k", "test_step_applies"
    )
    assert run.completed.returncode == 1, run.output[-5000:]
    assert "INTERNALERROR" not in run.output and "DumpError" not in run.output, run.output[-5000:]
    (failure, *_) = run.failures("surrogate-message")
    assert "masks-\\udcff.pt" in failure["message"], failure["message"]
    assert "masks-\\udcff.pt" in (run.report / "failures.md").read_text(encoding="utf-8")


def test_a_huge_message_is_capped_in_every_report_and_kept_once(shared):
    for name in ("conformance.json", "failures.md", "scoreboard.md"):
        size = (shared.report / name).stat().st_size
        assert size < REPORT_LIMIT_BYTES, f"{name}: {size} bytes"
    failures = shared.failures(NAMES["huge"])
    kept = [shared.report / failure["message_file"] for failure in failures]
    assert kept and all(path.stat().st_size > 10_000_000 for path in kept), kept
    assert all("more characters left out" in failure["message"] for failure in failures)


def test_a_version_that_is_a_module_is_shown_as_its_type(shared):
    (backend,) = [b for b in shared.document()["backends"] if b["name"] == NAMES["version"]]
    assert backend["version"] == "<module, not a str>", backend
    assert "<module 'tests.misbehaving.version_module" not in shared.output
    assert "its 'version' is a module, not a str" in (shared.report / "scoreboard.md").read_text()


def _with_this_python(command: str) -> list[str]:
    """A printed ``python -m pytest ...`` command, run by this interpreter (not whichever ``python`` is on PATH)."""
    words = shlex.split(command)
    assert words[0] == "python", command
    return [sys.executable, *words[1:]]


def test_a_failure_that_depends_on_earlier_tests_says_so_with_a_replay_that_reproduces_it(tmp_path):
    """90 grid tests pass in the run's order (90 calls); their second pass turns after 150 calls: it fails
    in the second pass only, passes alone, and its replay (the tests before it, then it) fails again."""
    backend = "--backend=tests.broken.stateful_tuned_after_calls"
    options = ("--suite=core", "-n=0", "--reproduce=1", "-k", "test_sparsity_grid")
    run = prunebench(tmp_path / "report", "run", backend, *options)
    assert run.completed.returncode == 1, run.output[-5000:]
    first = run.document()["failures"][0]
    assert first["second_pass"], first
    assert first["reproduction"].startswith("depends on earlier tests in the process"), first
    assert first["replay_command"] and "--prunebench-replay=" in first["replay_command"], first
    replay = subprocess.run(
        _with_this_python(first["replay_command"]), capture_output=True, text=True, timeout=RUN_LIMIT_S, cwd=ROOT
    )
    assert replay.returncode == 1 and first["test"].rsplit("/", 1)[1] in replay.stdout, replay.stdout[-3000:]
    alone = subprocess.run(_with_this_python(first["command"]), capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert alone.returncode == 0, f"the failure reproduces alone after all:\n{alone.stdout[-3000:]}"


def test_warnings_filters_set_at_import_are_a_usage_error(tmp_path):
    backends = "--backend=tests.misbehaving.warnings_error,reference"
    run = prunebench(tmp_path / "report", "run", backends, "--suite=core", "-n=0", "-k", "test_step_applies")
    assert run.completed.returncode == 4, run.output[-3000:]
    assert "warnings filters: error for Warning added" in run.completed.stderr, run.completed.stderr[-3000:]


@pytest.mark.parametrize("leak", ["leaves_thread", "leaves_process"])
def test_work_left_running_fails_its_test_and_the_run_still_ends(tmp_path, leak):
    spec = f"tests.misbehaving.{leak}:LeakyMagnitudeSparsifier"
    run = prunebench(
        tmp_path / "report",
        "check",
        spec,
        "-k",
        "step_reaches_sparsity_level and mlp",
        "--dtype=float32",
        "--reproduce=0",
        env={EXIT_GRACE_ENV: "2"},
    )
    assert run.completed.returncode == 1, run.output[-5000:]
    (failure,) = run.document()["failures"]
    assert "left work running after this test" in failure["message"], failure["message"]
    assert json.loads((run.report / "run.json").read_text())["state"] == "complete"


def test_a_failure_declared_while_the_run_goes_is_rerun_under_the_runs_declarations(tmp_path):
    """The failing ``step()`` appends an entry for its own test to its expected-failures file: the rerun alone
    reads the run's snapshot, so the failure still reproduces alone (not "xfailed when rerun alone"); the file
    itself did change, for the next run."""
    declarations = tmp_path / "declares.xfails"
    declarations.write_text("# nothing declared when the run starts\n", encoding="utf-8")
    env = {"PRUNEBENCH_TEST_MID_RUN_XFAILS": str(declarations)}
    backend = "--backend=tests.misbehaving.declares_mid_run"
    options = ("--suite=core", "-n=1", "--reproduce=1", "-k", "test_step_applies_update_mask")
    run = prunebench(tmp_path / "report", "run", backend, *options, env=env)
    assert run.completed.returncode == 1, run.output[-5000:]
    (first, *_) = run.failures("declares-mid-run")
    assert first["reproduction"] == "reproduces alone", first
    (entry, *_) = load_xfails(declarations)  # the file did change: the next run expects the failure
    assert entry.reason == "declared while the run was going" and entry.matches(first["test"].rsplit("/", 1)[1])


def test_a_timeout_is_reported_as_a_timeout_never_as_kept_state(tmp_path):
    """A 3 s ``step()`` under ``--timeout=1`` times out in the run; alone (the default limit) it passes. The report
    says it timed out and does not replay it: passing alone is no evidence of state kept between tests."""
    backend = "--backend=tests.misbehaving.slow_step"
    options = ("--suite=core", "-n=1", "--reproduce=1", "-k", "test_step_applies_update_mask")
    run = prunebench(tmp_path / "report", "run", backend, *options, pytest_args=("--timeout=1",))
    assert run.completed.returncode == 1, run.output[-5000:]
    (first, *_) = run.failures("slow-step")
    assert first["reproduction"].startswith("timed out") and "passes alone" in first["reproduction"], first
    assert "keeps state" not in first["reproduction"] and not first.get("replay_command"), first


def test_a_perf_case_cut_short_is_left_out_and_the_run_keeps_its_other_results(tmp_path):
    """A perf case timed out in its second round: pytest-benchmark still writes its one round. The run reports
    the failure (exit 1) and writes its results without that case, with the cases that did complete. (The
    squash_mask case steps in its setup, so it is the one cut short after a round; the step case after it
    stalls in its warm-up.)"""
    backend = "--backend=tests.misbehaving.stalls_late_step"
    options = ("--suite=perf", "--perf-sizes=64", "--perf-rounds=3", "--perf-min-time=0", "--perf-threads=1")
    selection = ("-k", "(wn_unstructured and step) or (floor and read)")
    run = prunebench(
        tmp_path / "report", "run", backend, *options, *selection, pytest_args=("--timeout=5",), outside_xdist=True
    )
    assert run.completed.returncode == 1, run.output[-5000:]
    assert "Timeout" in run.output and "lacks extra_info" not in run.output, run.output[-5000:]
    cases = load_results(tmp_path / "report" / "perf.json").cases
    measured = sorted((case.id, case.stats.get("rounds")) for case in cases)
    assert not [case for case in cases if case.operation in ("step", "squash_mask")], measured  # both stepped
    assert all(case.stats["rounds"] >= 3 for case in cases), measured
    assert [case for case in cases if case.operation == "floor"], measured
