"""Turns the reports of a run into its scoreboard, outcome records and failures.

Registered once per session; under xdist it runs in the controller and sees the workers' reports.
Every report is read through its test cell (``harness.cell``) and its outcome (``harness.outcome``),
never by parsing ids or messages.

One record per test cell. A cell that ran twice (``harness.second_pass``) keeps its first outcome unless
it passed then and failed the second time: then it failed, because the backend kept state between tests.
Each test's place in the order of the process that ran it is kept, so that a failure that does not fail
alone can be replayed after the tests that ran before it (``harness.replay``).
"""

from __future__ import annotations

import dataclasses

import pytest

from .backend import Backend
from .cell import PROCESS_PROPERTY, TestCell, cell_of_report
from .conformance_results import ConformanceRecord, ConformanceRun, count_records
from .environment import describe_environment
from .escaping import encodable
from .failure import REASON_CHARS, Failure, capped, failure_message, message_is_capped
from .memory import memory_method
from .outcome import is_crash, outcome_of, reason_of
from .scoreboard import Scoreboard
from .second_pass import STATE_REASON

MEMORY_PROPERTY = "prunebench_peak_memory"
FAILING = ("failed", "crashed")


class RunRecorder:
    """Counts each test's outcome and keeps it as a record; keeps each failure with its reproduction."""

    def __init__(self, scoreboard: Scoreboard, backends: list[Backend], extra_options: tuple[str, ...] = ()) -> None:
        self.scoreboard = scoreboard
        self.backends = backends
        self.extra_options = extra_options
        self.records: list[ConformanceRecord] = []
        self.failures: list[Failure] = []
        self.full_messages: dict[int, str] = {}
        """The whole text of each failure (by index) whose report keeps only its start."""
        self.finished: set[str] = set()
        """Node ids whose test ran to its end (teardown reported, or crashed): compared with the collected count."""
        self.order: dict[int, list[str]] = {}
        """Process id -> the reproduction ids of the tests it ran, in its order (a test run twice: twice)."""
        self._place: dict[str, tuple[int, int]] = {}
        self._record_of: dict[tuple[str, str], int] = {}

    def _failure(self, cell: TestCell, report: pytest.TestReport) -> Failure:
        options = next((b.options for b in self.backends if b.name == cell.backend), ())
        process, position = self._place.get(report.nodeid, (None, None))
        full = encodable(report.longreprtext)
        message = failure_message(full)
        if message_is_capped(full):
            self.full_messages[len(self.failures)] = full
        return Failure(
            cell.reproduction_id,
            cell.backend,
            cell.seed,
            message,
            options,
            self.extra_options,
            device=cell.device,
            dtype=cell.dtype,
            second_pass=cell.second_pass,
            process=process,
            position=position,
        )

    def _note_place(self, report: pytest.TestReport, cell: TestCell) -> None:
        """A test's place in its process's order, noted at its first phase."""
        process = dict(report.user_properties).get(PROCESS_PROPERTY)
        if report.when != "setup" or process is None:
            return
        ran = self.order.setdefault(int(process), [])
        self._place[report.nodeid] = (int(process), len(ran))
        ran.append(cell.reproduction_id)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" or is_crash(report):
            self.finished.add(report.nodeid)
        cell = cell_of_report(report, (b.name for b in self.backends))
        if cell is None:
            return
        self._note_place(report, cell)
        if cell.second_pass:
            self._second_run(cell, report)
            return
        outcome = outcome_of(report)
        if report.failed:  # a strict XPASS too: it fails the run, and says which entry to remove
            self.failures.append(self._failure(cell, report))
        if outcome is None:
            return
        reason = reason_of(report, outcome)
        peak = dict(report.user_properties).get(MEMORY_PROPERTY)
        device = cell.device or "cpu"
        self._record_of[(cell.backend, cell.test)] = len(self.records)
        self.records.append(
            ConformanceRecord(
                cell,
                outcome,
                capped(encodable(reason), REASON_CHARS, "see the test's own output") if reason else reason,
                report.duration,
                peak,
                memory_method(device) if peak is not None else None,
                self._place.get(report.nodeid, (None, None))[0],
            )
        )

    def _second_run(self, cell: TestCell, report: pytest.TestReport) -> None:
        """A test's second run counts only when it failed where the first run passed (``harness.second_pass``)."""
        index = self._record_of.get((cell.backend, cell.test))
        if outcome_of(report) not in FAILING or index is None or self.records[index].outcome != "passed":
            return
        self.records[index] = dataclasses.replace(self.records[index], outcome="failed", reason=STATE_REASON)
        self.failures.append(self._failure(cell, report))

    def run(self, stale: list[str], incomplete: str | None) -> ConformanceRun:
        """The run as recorded; the scoreboard is counted from the records (a second run may change one)."""
        count_records(self.records, self.scoreboard)
        backends = [
            {
                "name": b.name,
                "version": b.version,
                "source": b.source,
                "own_mask_access": b.mask_access is not None,
                "notes": list(b.notes),
            }
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
            full_messages=self.full_messages,
            order=self.order,
        )
