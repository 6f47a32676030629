"""The run's snapshot of expected-failures files (``harness.xfails_snapshot``): the first read is kept, later reads
in the run see it whatever the file became, and nothing outlives the run."""

from __future__ import annotations

import os
from pathlib import Path

from prunebench.harness.xfails import load_xfails
from prunebench.harness.xfails_snapshot import SNAPSHOT_ENV, snapshot

ENTRY = "test_step.py::test_step_applies_update_mask[ | {reason}\n"


def _declare(path: Path, reason: str) -> None:
    path.write_text(ENTRY.format(reason=reason), encoding="utf-8")


def test_a_file_edited_during_the_run_is_read_as_the_run_first_read_it(tmp_path):
    declared = tmp_path / "mine.xfails"
    _declare(declared, "as the run started")
    with snapshot(tmp_path / "report"):
        assert [entry.reason for entry in load_xfails(declared)] == ["as the run started"]
        _declare(declared, "edited while the run goes")
        assert [entry.reason for entry in load_xfails(declared)] == ["as the run started"]
    assert [entry.reason for entry in load_xfails(declared)] == ["edited while the run goes"]


def test_an_included_file_is_kept_too(tmp_path):
    included, including = tmp_path / "base.xfails", tmp_path / "mine.xfails"
    _declare(included, "base as the run started")
    including.write_text("include base.xfails\n", encoding="utf-8")
    with snapshot(tmp_path / "report"):
        load_xfails(including)
        _declare(included, "base edited")
        assert [entry.reason for entry in load_xfails(including)] == ["base as the run started"]


def test_a_new_run_takes_a_new_snapshot_and_the_variable_is_restored(tmp_path, monkeypatch):
    monkeypatch.delenv(SNAPSHOT_ENV, raising=False)
    declared = tmp_path / "mine.xfails"
    _declare(declared, "first run")
    with snapshot(tmp_path / "report") as directory:
        load_xfails(declared)
        assert os.environ[SNAPSHOT_ENV] == str(directory.resolve())
    assert SNAPSHOT_ENV not in os.environ
    _declare(declared, "second run")
    with snapshot(tmp_path / "report"):  # the same report directory: its old snapshot goes
        assert [entry.reason for entry in load_xfails(declared)] == ["second run"]
