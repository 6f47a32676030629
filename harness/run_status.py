"""The completion marker of a conformance run: written first as "running", last as "complete".

A run that dies in the middle (a backend calling ``os._exit``, a SIGKILL) leaves "running" behind; a
run stopped early (``pytest.exit``, a crash of the session) records "cut short after N of M tests", and
one stopped by SIGINT / SIGTERM records "interrupted" with the signal (``harness.watchdog`` for plain
pytest, ``harness.process_tree`` for ``prunebench run``).
Readers (``prunebench run``, people reading a report directory) treat anything but "complete" as a
run that did not finish, so it can never look green. The previous run's report files are removed
when a run starts, so a dead run cannot leave an old, green report looking current.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .atomic import write_text_atomic

STATUS_FILE = "run.json"
REPORT_FILES: tuple[str, ...] = ("conformance.json", "scoreboard.md", "failures.md", "scoreboard.json")
"""What a conformance run writes into its report directory (removed when the next run starts; the last is
what runs before the one-JSON-per-run report wrote, so an old report cannot look current either)."""
REPORT_DIRS: tuple[str, ...] = ("messages", "order", "replay", "lanes")
"""Folders of a report (whole messages, process orders, replays, ``prunebench run``'s lanes), removed likewise."""
RUNNING, CUT_SHORT, INTERRUPTED, COMPLETE = "running", "cut short", "interrupted", "complete"


@dataclass(frozen=True)
class RunStatus:
    state: str
    finished: int | None = None
    expected: int | None = None
    reason: str | None = None
    """What stopped an interrupted run (``SIGTERM``, ``SIGINT``)."""
    lingering: list[str] = field(default_factory=list)
    """Threads and child processes still running after the last test (``harness.lingering``): they would have
    kept the process from exiting, and it was ended."""

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE

    def describe(self) -> str:
        if self.state == CUT_SHORT:
            return f"the run was cut short after {self.finished} of {self.expected} tests"
        if self.state == INTERRUPTED:
            counts = f" after {self.finished} of {self.expected} tests" if self.expected is not None else ""
            return f"the run was interrupted by {self.reason or 'a signal'}{counts}"
        if self.state == RUNNING:
            return "the run did not finish (its process died before writing its report)"
        return f"the run finished all {self.expected} tests"


def write(directory: str | Path, status: RunStatus) -> RunStatus:
    """Write ``status`` as the directory's marker (atomically)."""
    write_text_atomic(Path(directory) / STATUS_FILE, json.dumps(asdict(status)) + "\n")
    return status


def begin(directory: str | Path) -> None:
    """Mark the run as started, after removing the previous run's report files."""
    target = Path(directory)
    for name in REPORT_FILES:
        (target / name).unlink(missing_ok=True)
    for name in REPORT_DIRS:
        shutil.rmtree(target / name, ignore_errors=True)
    write(target, RunStatus(RUNNING))


def finish(directory: str | Path, finished: int, expected: int, lingering: list[str] | None = None) -> RunStatus:
    """Write the final state, last of every report file."""
    state = COMPLETE if finished >= expected else CUT_SHORT
    return write(directory, RunStatus(state, finished, expected, lingering=lingering or []))


def interrupt(directory: str | Path, reason: str) -> RunStatus:
    """Record that a signal stopped the run, keeping the counts a cut-short run recorded.

    A run that had already completed keeps its "complete": its report is whole and true.
    """
    current = read(directory)
    if current.complete:
        return current
    return write(directory, RunStatus(INTERRUPTED, current.finished, current.expected, reason, current.lingering))


def read(directory: str | Path) -> RunStatus:
    """The recorded state; a missing or unreadable marker reads as a run that did not finish."""
    try:
        document = json.loads((Path(directory) / STATUS_FILE).read_text(encoding="utf-8"))
        return RunStatus(
            str(document["state"]),
            document.get("finished"),
            document.get("expected"),
            document.get("reason"),
            list(document.get("lingering") or []),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return RunStatus(RUNNING)
