"""The exit status of ``prunebench run`` and ``check``: from what the run recorded, never from a child's status alone.

A backend can end its process with any status it likes (``atexit.register(os._exit, 0)`` after 60
failures), or keep it from exiting at all. So the status follows the recorded outcomes and the
completion marker: a usage error (4, when a lane could not start its tests), a run that did not finish
(3), a failure, crash or strict XPASS recorded, or work the backend left running after its last test
(1), no test at all (5), else 0. A lane whose pytest exited with an error although every outcome it
recorded passed is a failure too (1, and said so): a doubt is never green.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .conformance_results import ConformanceRun
from .lane_merge import LaneReport
from .run_status import RunStatus

OK, FAILED, INCOMPLETE, USAGE, NO_TESTS = 0, 1, 3, 4, 5
FAILING = ("failed", "crashed", "xpassed")
PYTEST_FINE = (0, 1, 5)
"""pytest's statuses that the recorded outcomes explain: all passed, some failed, none collected."""


@dataclass(frozen=True)
class Verdict:
    status: int
    why: str | None = None
    """One line for stderr when the status needs explaining (the outcomes do not say it already)."""


def conformance_verdict(run: ConformanceRun, status: RunStatus, lanes: Sequence[LaneReport]) -> Verdict:
    if any(lane.exit_status == USAGE and lane.run is None for lane in lanes):
        return Verdict(USAGE)  # the lane printed its usage error
    if not status.complete:
        return Verdict(INCOMPLETE, f"{status.describe()}: not a passing run")
    if any(record.outcome in FAILING for record in run.records) or run.failures:
        said = [lane.label for lane in lanes if lane.exit_status == OK and lane.run is not None and lane.run.failures]
        why = (
            f"failures recorded although pytest exited 0 in {', '.join(said)}: the exit status follows the "
            "recorded outcomes"
            if said
            else None
        )
        return Verdict(FAILED, why)
    left = [lane.label for lane in lanes if lane.ended] + status.lingering
    if left:
        return Verdict(FAILED, f"work left running after the last test ({'; '.join(left)}): see the report")
    odd = [f"{lane.label} (exit {lane.exit_status})" for lane in lanes if lane.exit_status not in PYTEST_FINE]
    if odd:
        return Verdict(
            FAILED, f"pytest exited with an error in {', '.join(odd)} although every recorded outcome passed"
        )
    nothing = not run.records and all(lane.exit_status == NO_TESTS for lane in lanes)  # (--collect-only: 0)
    return Verdict(NO_TESTS if nothing else OK)
