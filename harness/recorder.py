"""Turns the reports of a run into its scoreboard, outcome records and failures.

Registered once per session; under xdist it runs in the controller and sees the workers' reports.
Every report is read through its test cell (``harness.cell``) and its outcome (``harness.outcome``),
never by parsing ids or messages.
"""

from __future__ import annotations

import pytest

from .backend import Backend
from .cell import TestCell, cell_of_report
from .conformance_results import ConformanceRecord, ConformanceRun
from .environment import describe_environment
from .failure import Failure, failure_message
from .memory import memory_method
from .outcome import is_crash, outcome_of, reason_of
from .scoreboard import Scoreboard

MEMORY_PROPERTY = "prunebench_peak_memory"
SCOREBOARD_REASONS = ("unsupported", "not_applicable", "xfailed", "crashed")


class RunRecorder:
    """Counts each test's outcome and keeps it as a record; keeps each failure with its reproduction."""

    def __init__(self, scoreboard: Scoreboard, backends: list[Backend], extra_options: tuple[str, ...] = ()) -> None:
        self.scoreboard = scoreboard
        self.backends = backends
        self.extra_options = extra_options
        self.records: list[ConformanceRecord] = []
        self.failures: list[Failure] = []
        self.finished: set[str] = set()
        """Node ids whose test ran to its end (teardown reported, or crashed): compared with the collected count."""

    def _failure(self, cell: TestCell, report: pytest.TestReport) -> Failure:
        options = next((b.options for b in self.backends if b.name == cell.backend), ())
        message = failure_message(report.longreprtext)
        return Failure(cell.reproduction_id, cell.backend, cell.seed, message, options, self.extra_options)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" or is_crash(report):
            self.finished.add(report.nodeid)
        cell = cell_of_report(report, (b.name for b in self.backends))
        if cell is None:
            return
        outcome = outcome_of(report)
        if report.failed:  # a strict XPASS too: it fails the run, and says which entry to remove
            self.failures.append(self._failure(cell, report))
        if outcome is None:
            return
        reason = reason_of(report, outcome)
        self.scoreboard.record(cell.backend, cell.suite, outcome, reason if outcome in SCOREBOARD_REASONS else None)
        peak = dict(report.user_properties).get(MEMORY_PROPERTY)
        device = cell.device or "cpu"
        self.records.append(
            ConformanceRecord(
                cell, outcome, reason, report.duration, peak, memory_method(device) if peak is not None else None
            )
        )

    def run(self, stale: list[str], incomplete: str | None) -> ConformanceRun:
        backends = [
            {"name": b.name, "version": b.version, "source": b.source, "own_mask_access": b.mask_access is not None}
            for b in self.backends
        ]
        return ConformanceRun(
            environment=describe_environment(),
            backends=backends,
            scoreboard=self.scoreboard,
            records=self.records,
            failures=self.failures,
            stale_expected_failures=stale,
            incomplete=incomplete,
        )
