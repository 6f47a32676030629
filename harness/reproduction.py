"""Each failure's reproduction tried before the report is written: alone, then after the tests before it.

A failure report promises a command that reproduces the failure. ``prunebench run`` and ``check`` hold
it to that: each failure's command runs alone, in a fresh pytest process, with the run's options. If it
fails again, the report says *reproduces alone*. If it passes, the failure depended on what ran before
it in its process (the backend keeps state between tests): a replay file lists the tests that process
ran up to and including it (``harness.replay``), the replay runs, and the report gives its command and
what it showed. A test that ran past its time limit is not replayed: timing depends on the machine's
load, so passing alone is no evidence of state kept between tests, and the report says it timed out. The
cost is bounded: at most ``cap`` failures are tried (in the run's order), at most ``REPLAYS`` replays run,
each rerun has a time limit, and the report says what was not tried.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .conformance_results import ConformanceRecord, read_conformance
from .failure import TIMEOUT_MARK, Failure
from .process_tree import Child, run_process_trees
from .replay import replay_command, write_replay

DEFAULT_CAP = 10
"""Failures rerun alone by default (``--reproduce``): enough to tell a state-keeping backend, in seconds each."""
REPLAYS = 3
"""Replays run at most: each reruns its process's tests up to the failure, which may be most of a run."""
ALONE_TIMEOUT_S = 300.0
REPLAY_TIMEOUT_S = 900.0
REPLAY_DIR = "replay"
ALONE = "reproduces alone"
FAILING = ("failed", "crashed", "xpassed")
"""What a failure's report counts as failing: a strict expected failure that passed fails the run too."""


@dataclass(frozen=True)
class Rerun:
    """One rerun: the command, where its results go, and what it found for the failing test."""

    command: list[str]
    results: Path
    log: Path

    def outcome(self, failure: Failure, status: int | None) -> str | None:
        """The failing test's last outcome in the rerun; ``crashed`` when its process died before any record;
        None when it did not run at all (usage error, time limit)."""
        try:
            records = read_conformance(self.results).records
        except (OSError, ValueError, KeyError, TypeError):
            records = []
        mine = [record for record in records if _same_test(record, failure)]
        if mine:
            return mine[-1].outcome
        return "crashed" if status not in (None, 4, 5) else None


def _same_test(record: ConformanceRecord, failure: Failure) -> bool:
    return record.cell.backend == failure.backend and record.cell.reproduction_id == failure.test


def _tail(log: Path) -> str:
    lines = (
        [line for line in log.read_text(errors="backslashreplace").splitlines() if line.strip()] if log.exists() else []
    )
    return lines[-1] if lines else "no output"


def _run(reruns: Sequence[Rerun], timeout: float, concurrency: int, cwd: Path) -> list[int | None]:
    """Run the reruns; a rerun past ``timeout`` is killed (its status None)."""
    children = [Child(rerun.command, log=rerun.log, cwd=cwd, timeout=timeout) for rerun in reruns]
    run_process_trees(children, concurrency)
    return [None if child.ended else child.status for child in children]


def _alone(failure: Failure, scratch: Path, index: int) -> Rerun:
    results = scratch / f"alone-{index}.json"
    words = shlex.split(failure.command())
    command = [sys.executable, *words[1:], "-p", "no:cacheprovider", "-q", f"--results-json={results}"]
    return Rerun(command, results, scratch / f"alone-{index}.log")


def _replay(failure: Failure, report: Path, scratch: Path, index: int, matrix: Sequence[str]) -> tuple[Rerun, str]:
    """The replay of a failure's process up to it: the rerun, and the command the report gives."""
    assert failure.order_file is not None and failure.position is not None
    ran = (report / failure.order_file).read_text(encoding="utf-8").splitlines()[: failure.position + 1]
    path = write_replay(
        report / REPLAY_DIR / f"failure-{index + 1}.txt",
        ran,
        f"the tests one process ran up to {failure.test}, in its order",
    )
    options = failure.backend_options or (f"--backend={failure.backend}",)
    shown = replay_command(path, ran, options, [*matrix, *failure.extra_options])
    results = scratch / f"replay-{index}.json"
    command = [sys.executable, *shlex.split(shown)[1:], "-p", "no:cacheprovider", "-q", f"--results-json={results}"]
    return Rerun(command, results, scratch / f"replay-{index}.log"), shown


PASSES_ALONE = "passes alone"


def timed_out(failure: Failure) -> bool:
    """Whether the failure is pytest-timeout's: the test ran past its time limit."""
    return TIMEOUT_MARK in failure.message


TIMED_OUT = (
    "timed out: a time limit depends on the machine's speed and load as much as on the backend (a hang, or work "
    "too slow for the limit)"
)


def _alone_verdict(outcome: str | None, rerun: Rerun, failure: Failure) -> str:
    if timed_out(failure):
        if outcome in FAILING:
            return f"{TIMED_OUT}; it fails alone too"
        if outcome == "passed":
            return f"{TIMED_OUT}; it passes alone: the run's load, not the backend's state, is the likelier cause"
    if outcome in FAILING:
        return ALONE
    if outcome is None:
        return f"could not be rerun alone ({_tail(rerun.log)})"
    return PASSES_ALONE if outcome == "passed" else f"does not fail alone ({outcome} when rerun alone)"


def reproduce(
    failures: list[Failure],
    report: Path,
    matrix: Sequence[str],
    cap: int = DEFAULT_CAP,
    concurrency: int = 1,
    cwd: Path | None = None,
) -> tuple[list[Failure], list[str]]:
    """``failures`` with their ``reproduction`` (and ``replay_command``) filled in, and the report's notes."""
    chosen, rest = failures[: max(cap, 0)], failures[max(cap, 0) :]
    notes = []
    if rest:
        notes.append(
            f"{len(rest)} of {len(failures)} failures were not rerun alone: at most {cap} are "
            "(prunebench run/check --reproduce=N)"
        )
    with tempfile.TemporaryDirectory(prefix="prunebench-rerun-") as scratch_name:
        tried = _tried(chosen, report, Path(scratch_name), matrix, concurrency, cwd or Path.cwd())
    skipped = [dataclasses.replace(f, reproduction=f"not rerun: past the first {cap} failures") for f in rest]
    return tried + skipped, notes


def _tried(
    chosen: list[Failure], report: Path, scratch: Path, matrix: Sequence[str], concurrency: int, cwd: Path
) -> list[Failure]:
    """Each failure rerun alone; the first ``REPLAYS`` that pass alone replayed after the tests before them."""
    alone = [_alone(failure, scratch, index) for index, failure in enumerate(chosen)]
    statuses = _run(alone, ALONE_TIMEOUT_S, concurrency, cwd)
    verdicts = [_alone_verdict(r.outcome(f, s), r, f) for r, f, s in zip(alone, chosen, statuses, strict=True)]
    replayable = [  # a timeout is never replayed: passing alone says nothing about state kept between tests
        index
        for index, failure in enumerate(chosen)
        if verdicts[index] != ALONE and not verdicts[index].startswith(("could not", TIMED_OUT)) and failure.position
    ]
    replays = {index: _replay(chosen[index], report, scratch, index, matrix) for index in replayable[:REPLAYS]}
    statuses = _run([rerun for rerun, _ in replays.values()], REPLAY_TIMEOUT_S, concurrency, cwd)
    for (index, (rerun, _)), status in zip(replays.items(), statuses, strict=True):
        verdicts[index] = _replay_verdict(verdicts[index], rerun.outcome(chosen[index], status), chosen[index])
    for index in replayable[REPLAYS:]:
        verdicts[index] += f": it may depend on earlier tests in its process (not replayed: at most {REPLAYS} are)"
    return [
        dataclasses.replace(failure, reproduction=verdicts[index], replay_command=replays.get(index, (None, None))[1])
        for index, failure in enumerate(chosen)
    ]


def _replay_verdict(alone: str, outcome: str | None, failure: Failure) -> str:
    preceding = failure.position or 0
    if outcome in FAILING:
        return (
            f"depends on earlier tests in the process: the backend keeps state between tests. It {alone} and fails "
            f"again after the {preceding} tests its process ran before it (the replay command)"
        )
    if outcome is None:
        return f"{alone}; its replay after the {preceding} tests before it did not finish or could not run"
    return (
        f"does not reproduce: it {alone} and {outcome} after the {preceding} tests its process ran before it "
        "(timing, threads or randomness outside the test's seed?)"
    )
