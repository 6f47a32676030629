"""One conformance run of ``prunebench run`` or ``check``: lanes, their reports merged, failures rerun, a verdict.

The order: the report directory is marked as holding a run in progress (the previous run's files go);
the lanes run (``harness.lanes``); their reports become one (``harness.lane_merge``); each failure is
rerun alone, and after the tests before it where it passes alone (``harness.reproduction``); then the
report is written, the completion marker last, and the exit status derived from what was recorded
(``harness.exit_status``). A stop signal still leaves a report: what the lanes recorded, marked
interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from . import run_status
from .conformance_results import ConformanceRun
from .exit_status import USAGE, conformance_verdict
from .lane_merge import LaneReport, merge_lanes, merged_status, same_names
from .lanes import Lane, concurrency, run_lanes
from .process_tree import RunInterruptedError
from .report import write_report
from .xfails_snapshot import snapshot

SHOWN_FAILURES = 10
"""Failures listed again at the end of the output (at least those rerun)."""


def _reports(lanes: Sequence[Lane], statuses: Sequence[int | None], ended: Sequence[str | None]) -> list[LaneReport]:
    return [
        LaneReport.read(lane.label, lane.directory, status, why)
        for lane, status, why in zip(lanes, statuses, ended, strict=True)
    ]


def _print_failures(run: ConformanceRun, shown: int) -> None:
    """The first ``shown`` failures on stdout: id, what rerunning showed, the command that reruns it (pytest's
    own output above gives that command for every failure, and failures.md keeps them all)."""
    if not run.failures:
        return
    print(
        f"\nprunebench: {len(run.failures)} failure(s)"
        + (f"; the first {shown}:" if len(run.failures) > shown else ":")
    )
    for failure in run.failures[:shown]:
        second = " (second pass)" if failure.second_pass else ""
        print(f"\nFAILED {failure.test}{second}\n  {failure.reproduction or 'not rerun'}\n  {failure.command()}")
        if failure.replay_command:
            print(f"  replay: {failure.replay_command}")


def _take_known_declarations(common: Sequence[str]) -> None:
    """Take the expected-failures files known before any lane starts into the run's snapshot
    (``harness.xfails_snapshot``): the user's ``--xfails`` files and every built-in backend's (the ones a
    checked class may inherit). A backend's own file is taken when its lane first reads it. A file that cannot
    be read or parsed is left for the lane, which reports it as the usage error it is."""
    import importlib.util

    from .backend import BUILTIN_BACKENDS
    from .errors import UsageError
    from .xfails import load_xfails

    paths = [Path(option.removeprefix("--xfails=")) for option in common if option.startswith("--xfails=")]
    for module in BUILTIN_BACKENDS.values():
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin:
            paths.append(Path(spec.origin).with_suffix(".xfails"))
    for path in paths:
        if path.is_file():
            with contextlib.suppress(UsageError, ValueError):
                load_xfails(path)


def run_conformance(
    lanes: Sequence[Lane],
    workers: str,
    common: Sequence[str],
    report: Path,
    matrix: Sequence[str],
    reproduce_cap: int,
) -> int:
    """Run ``lanes`` into ``report`` and return the exit status; raises ``RunInterruptedError`` on a stop signal."""
    run_status.begin(report)
    with snapshot(report):  # every process of the run reads the expected failures it started with
        _take_known_declarations(common)
        try:
            children = run_lanes(lanes, workers, common)
        except RunInterruptedError as stop:
            reports = _reports(lanes, [None] * len(lanes), [None] * len(lanes))
            write_report(report, merge_lanes(reports, report))
            run_status.write(report, merged_status(reports))
            run_status.interrupt(report, str(stop))
            raise
        reports = _reports(lanes, [child.status for child in children], [child.ended for child in children])
        clashes = same_names(reports, [lane.options for lane in lanes])
        if clashes:
            print(f"prunebench: error: {'; '.join(clashes)}: each backend needs a name of its own", file=sys.stderr)
            return USAGE
        run, status = merge_lanes(reports, report), merged_status(reports)
        if run.failures and reproduce_cap > 0:
            from .reproduction import reproduce

            print(f"prunebench: rerunning {min(len(run.failures), reproduce_cap)} failure(s) alone", flush=True)
            failures, notes = reproduce(run.failures, report, matrix, reproduce_cap, concurrency(workers))
            run = dataclasses.replace(run, failures=failures, notes=run.notes + notes)
        for written in write_report(report, run):
            print(f"prunebench: report written to {written}")
        run_status.write(report, status)
        if len(lanes) > 1:
            print("\nprunebench scoreboard (every lane)\n" + run.scoreboard.render())
        for note in run.notes:
            print(f"prunebench: note: {note}")
        _print_failures(run, max(reproduce_cap, SHOWN_FAILURES))
        verdict = conformance_verdict(run, status, reports)
        if verdict.why:
            print(f"prunebench: error: {verdict.why}; see {report}", file=sys.stderr)
        return verdict.status
