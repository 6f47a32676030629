"""``prunebench run`` / ``check``: each backend's tests in pytest processes of their own, one lane per process.

A backend runs in-process with the harness: what its import patches, the threads it starts and the
state it keeps reach every test that runs after it in the same process. So each backend gets its own
pytest child (*lane*): its tests, in collection order, in one process (with ``-n 0``, the child's own;
otherwise one xdist worker, so a backend that kills its process crashes one test, not the lane), then
the second pass (``harness.second_pass``). The zoo of real architectures runs in a lane of its own
beside the other suites (it takes most of a run's time, and its models share nothing with the rest).

Which tests share a process and in which order is fixed by the command alone: ``-n`` only says how many
lanes run at once, so the verdict cannot depend on it, nor on the machine's timing. Each lane writes
its own report under ``REPORT/lanes/``; ``harness.lane_merge`` makes them one.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import run_status
from .failure import capped
from .process_tree import Child, run_process_trees

LANES_DIR = "lanes"
LOG_LINE_CHARS = 5_000
"""The most characters of one line of a lane's output printed."""
SECOND_PASS = "--prunebench-second-pass"
USAGE_EXIT = 4


@dataclass(frozen=True)
class Lane:
    """One pytest child: a backend's tests (or its zoo's), with its own report directory."""

    label: str
    """What the output calls it: the backend, ``reference (zoo)``."""
    options: tuple[str, ...]
    """The backend's options (``--backend=X``, or ``--check=...``)."""
    paths: tuple[str, ...]
    """What pytest collects: suite paths, and ``--ignore`` of the zoo in the lane beside it."""
    directory: Path

    def command(self, workers: str, common: Sequence[str]) -> list[str]:
        distribution = ["-n", "0"] if workers == "0" else ["-n", "1"]
        report = [f"--report-dir={self.directory}", SECOND_PASS]
        head = [sys.executable, "-m", "pytest", *self.paths, "-p", "no:cacheprovider", *distribution]
        return [*head, *self.options, *common, *report]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40] or "lane"


def plan_lanes(
    report: Path, backend_options: Sequence[tuple[str, tuple[str, ...]]], suites: Path, zoo: bool, rest: bool
) -> list[Lane]:
    """The lanes of a run: for each (label, options) backend, the suites but the zoo (``rest``), and the zoo."""
    lanes: list[Lane] = []
    zoo_dir = suites / "zoo"
    for label, options in backend_options:
        parts = [(label, (str(suites), f"--ignore={zoo_dir}") if zoo else (str(suites),))] if rest else []
        parts += [(f"{label} (zoo)" if rest else label, (str(zoo_dir),))] if zoo else []
        for part_label, paths in parts:
            directory = report / LANES_DIR / f"{len(lanes) + 1}-{_slug(part_label)}"
            lanes.append(Lane(part_label, options, paths, directory))
    return lanes


def concurrency(workers: str) -> int:
    """How many lanes run at once: ``-n N`` (``auto``: one per core; ``0``: one at a time, in-process)."""
    if workers == "auto":
        return os.cpu_count() or 1
    try:
        return max(1, int(workers))
    except ValueError:
        return 1


def run_lanes(lanes: Sequence[Lane], workers: str, common: Sequence[str]) -> list[Child]:
    """Run the lanes, at most ``concurrency(workers)`` at once; a lone lane's output streams, several lanes'
    each go to a scratch file printed as the lane ends (lines cut at ``LOG_LINE_CHARS``: a backend's message
    may be megabytes, and the report keeps it whole). Returns the children, in the lanes' order."""
    with tempfile.TemporaryDirectory(prefix="prunebench-lanes-") as scratch:
        return _run_lanes(lanes, workers, common, Path(scratch))


def _print_log(label: str, child: Child) -> None:
    assert child.log is not None
    print(f"===== prunebench lane {label}: exit {child.status} =====", flush=True)
    with child.log.open(encoding="utf-8", errors="backslashreplace") as log:
        for line in log:
            sys.stdout.write(capped(line.rstrip("\n"), LOG_LINE_CHARS, "the report keeps the whole message") + "\n")
    sys.stdout.flush()


def _run_lanes(lanes: Sequence[Lane], workers: str, common: Sequence[str], scratch: Path) -> list[Child]:
    at_once = min(concurrency(workers), len(lanes))
    children = []
    for index, lane in enumerate(lanes):
        lane.directory.mkdir(parents=True, exist_ok=True)
        children.append(
            Child(
                lane.command(workers, common),
                log=scratch / f"{index}.log" if at_once > 1 else None,
                done=lambda lane=lane: run_status.read(lane.directory).complete,
            )
        )
    labels = {id(child): lane.label for child, lane in zip(children, lanes, strict=True)}
    directories = {id(child): lane.directory for child, lane in zip(children, lanes, strict=True)}

    def show(child: Child) -> bool:
        """Print a logged lane's output; a lane that could not start its tests (a usage error) ends the run."""
        if child.log is not None:
            _print_log(labels[id(child)], child)
        return child.status == USAGE_EXIT and not run_status.read(directories[id(child)]).expected

    def announce(child: Child) -> None:
        where = " (its output follows when it ends)" if child.log is not None else ""
        print(f"prunebench lane {labels[id(child)]}{where}\n$ {' '.join(child.command)}", flush=True)

    run_process_trees(children, at_once, show, announce)
    return children
