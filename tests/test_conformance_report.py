"""The conformance report directory: scoreboard JSON and Markdown, failures with a pasteable command."""

from __future__ import annotations

import json

from prunebench.harness.failure import failure_message

from .conftest import SUITES, run_suites


def test_report_lists_failures_with_reproduction(pytester, tmp_path):
    report = tmp_path / "report"
    result = run_suites(
        pytester,
        str(SUITES / "test_nearly_diagonal.py"),
        "--backend=tests.broken.nd_band_strict",
        f"--report-dir={report}",
        "-k",
        "8x8-n3]",
    )
    assert result.ret == 1
    document = json.loads((report / "conformance.json").read_text())
    assert document["kind"] == "conformance" and document["scoreboard"]["cells"][0]["failed"] >= 1
    failed = [r for r in document["records"] if r["outcome"] == "failed"]
    assert failed and all(r["cell"]["suite"] == "nearly_diagonal" and r["cell"]["device"] == "cpu" for r in failed)
    failure = document["failures"][0]
    assert failure["backend"] == "broken-nd_band_strict" and isinstance(failure["seed"], int)
    assert "--backend=tests.broken.nd_band_strict" in failure["command"], failure["command"]
    assert "mask wrong at" in failure["message"]
    assert "| broken-nd_band_strict | nearly_diagonal |" in (report / "scoreboard.md").read_text()
    assert "```bash" in (report / "failures.md").read_text()


def test_clean_run_reports_no_failures(pytester, tmp_path):
    result = run_suites(pytester, str(SUITES / "test_step.py"), f"--report-dir={tmp_path}")
    assert result.ret == 0
    assert (tmp_path / "failures.md").read_text() == "# Failures\n\nNone.\n"


def test_failure_message_prefers_assertion_lines():
    text = "def test():\n>   assert x\nE   AssertionError: mask wrong\nE   assert False\nfile.py:3: AssertionError"
    assert failure_message(text) == "AssertionError: mask wrong\nassert False"


def test_reproduction_command_keeps_the_runs_xfails_files(pytester, tmp_path):
    """Without the run's --xfails, a strict XPASS would pass when re-run: the command must carry it."""
    xfails = tmp_path / "mine.xfails"
    xfails.write_text("test_step.py::test_step_applies_update_mask[ | claimed broken, but it is not\n")
    report = tmp_path / "report"
    result = run_suites(
        pytester,
        str(SUITES / "test_step.py"),
        f"--xfails={xfails}",
        f"--report-dir={report}",
        "-k",
        "test_step_applies_update_mask",
    )
    assert result.ret == 1, result.stdout.str()
    document = json.loads((report / "conformance.json").read_text())
    (failure,) = document["failures"]
    assert f"--xfails={xfails}" in failure["command"], failure["command"]
    (cell,) = document["scoreboard"]["cells"]
    assert (cell["xpassed"], cell["failed"]) == (1, 0), f"a strict XPASS is counted as xpassed: {cell}"


def test_stale_expected_failures_are_in_the_report_files(pytester, tmp_path):
    """A stale entry hides nothing (or hides a typo): the report says so, not only pytest's warning summary."""
    xfails = tmp_path / "mine.xfails"
    xfails.write_text("test_step.py::test_renamed_long_ago[ | library bug: gone\n")
    report = tmp_path / "report"
    result = run_suites(pytester, str(SUITES / "test_step.py"), f"--xfails={xfails}", f"--report-dir={report}")
    assert result.ret == 0, result.stdout.str()
    document = json.loads((report / "conformance.json").read_text())
    (stale,) = document["stale_expected_failures"]
    assert stale.startswith("test_step.py::test_renamed_long_ago[") and "mine.xfails:1" in stale, stale
    scoreboard = (report / "scoreboard.md").read_text()
    assert "## Stale expected failures" in scoreboard and "test_renamed_long_ago\\[" in scoreboard, scoreboard
