"""The lanes' reports made one: one scoreboard, one ``conformance.json``, one completion marker.

Each lane (``harness.lanes``) leaves its own report directory under ``REPORT/lanes/``; the run's report
holds every lane's records and failures (paths to side files made relative to the run's report), the
union of their notes and stale expected failures, and says it is incomplete when any lane did not finish.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import run_status
from .conformance_results import ConformanceRun, count_records, read_conformance
from .environment import describe_environment
from .failure import Failure
from .report import RESULTS_FILE
from .run_status import RunStatus
from .scoreboard import Scoreboard


@dataclass(frozen=True)
class LaneReport:
    """What one lane left: its label, its exit status, its marker and its run (None when it wrote none)."""

    label: str
    directory: Path
    exit_status: int | None
    status: RunStatus
    run: ConformanceRun | None
    ended: str | None = None
    """Why ``prunebench`` ended its process, if it did (``harness.process_tree.Child.ended``)."""

    @classmethod
    def read(cls, label: str, directory: Path, exit_status: int | None, ended: str | None = None) -> LaneReport:
        document = directory / RESULTS_FILE
        try:
            run = read_conformance(document) if document.exists() else None
        except (OSError, ValueError, KeyError, TypeError):
            run = None
        return cls(label, directory, exit_status, run_status.read(directory), run, ended)


def _relocated(failure: Failure, lane: Path, report: Path) -> Failure:
    """A lane's failure with its side files' paths relative to the run's report directory."""
    prefix = lane.relative_to(report)
    return dataclasses.replace(
        failure,
        message_file=str(prefix / failure.message_file) if failure.message_file else None,
        order_file=str(prefix / failure.order_file) if failure.order_file else None,
    )


def merged_status(lanes: Sequence[LaneReport]) -> RunStatus:
    """Complete when every lane is; else the first unfinished lane's state, with every lane's counts."""
    finished = sum(lane.status.finished or 0 for lane in lanes)
    expected = sum(lane.status.expected or 0 for lane in lanes)
    lingering = [f"{lane.label}: {item}" for lane in lanes for item in lane.status.lingering]
    unfinished = next((lane.status for lane in lanes if not lane.status.complete), None)
    if unfinished is None:
        return RunStatus(run_status.COMPLETE, finished, expected, lingering=lingering)
    return RunStatus(unfinished.state, finished, expected, unfinished.reason, lingering)


def merge_lanes(lanes: Sequence[LaneReport], report: Path) -> ConformanceRun:
    """One run of every lane's records, failures, notes and stale expected failures."""
    runs = [(lane, lane.run) for lane in lanes if lane.run is not None]
    backends = {entry["name"]: entry for _, run in runs for entry in run.backends}
    records = [record for _, run in runs for record in run.records]
    failures = [_relocated(failure, lane.directory, report) for lane, run in runs for failure in run.failures]
    notes = [f"{lane.label}: {note}" for lane, run in runs for note in run.notes]
    notes += [f"{lane.label}: {lane.ended}" for lane in lanes if lane.ended]
    unfinished = [f"{lane.label}: {lane.status.describe()}" for lane in lanes if not lane.status.complete]
    return ConformanceRun(
        environment=runs[0][1].environment if runs else describe_environment(),
        backends=list(backends.values()),
        scoreboard=count_records(records, Scoreboard()),
        records=records,
        failures=failures,
        stale_expected_failures=sorted({entry for _, run in runs for entry in run.stale_expected_failures}),
        incomplete="; ".join(unfinished) or None,
        notes=list(dict.fromkeys(notes)),
    )


def same_names(lanes: Sequence[LaneReport], options: Sequence[tuple[str, ...]]) -> list[str]:
    """Backend names that lanes of different ``--backend`` values reported (a fork that kept ``reference``
    beside the reference): their counts would add up under one name. One line per name."""
    seen: dict[str, set[tuple[str, ...]]] = {}
    for lane, chosen in zip(lanes, options, strict=True):
        for entry in lane.run.backends if lane.run is not None else []:
            seen.setdefault(str(entry["name"]), set()).add(chosen)
    return [
        f"backend name {name!r} was reported by {', '.join(' '.join(o) for o in sorted(found))}"
        for name, found in seen.items()
        if len(found) > 1
    ]
