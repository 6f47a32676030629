"""Timing helpers of the perf suite: device synchronisation and how many rounds a case gets.

Timing itself is pytest-benchmark's (``benchmark.pedantic`` in the perf suite's ``measure`` fixture).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

MAX_ROUNDS = 50
"""A case's rounds stop growing here: past it, a millisecond case costs more in setups than it gains."""


def synchronize(device: str) -> None:
    """Wait for every kernel queued on ``device`` (nothing to wait for on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))


def check_round_settings(min_rounds: int, min_time: float, names: tuple[str, str] = ("min_rounds", "min_time")) -> None:
    """Refuse settings ``rounds_for`` cannot use; ``names`` are what the caller calls them (its options)."""
    if min_rounds < 1:
        raise ValueError(f"{names[0]} {min_rounds!r}: expected an integer >= 1")
    if not (math.isfinite(min_time) and min_time >= 0):
        raise ValueError(f"{names[1]} {min_time!r}: expected a finite number of seconds >= 0")


def rounds_for(seconds_per_round: float, min_rounds: int, min_time: float, max_rounds: int = MAX_ROUNDS) -> int:
    """Timed rounds for a case whose warm-up took ``seconds_per_round``: ``min_rounds``, or more until
    ``min_time`` seconds of timed work, at most ``max_rounds`` (never fewer than ``min_rounds``).

    Why: five rounds of a millisecond operation on a shared machine give a median one stalled round
    can move by half; the same five rounds of a one-second operation are already seconds of evidence.
    Spending a fixed time per case, not a fixed count, evens the evidence out at little cost.
    """
    check_round_settings(min_rounds, min_time)
    if seconds_per_round <= 0:
        return max(min_rounds, max_rounds) if min_time > 0 else min_rounds
    wanted = math.ceil(min_time / seconds_per_round)
    return max(min_rounds, min(wanted, max_rounds))


CALIBRATION_ROUNDS = 3
"""Most untimed rounds a case's round length is estimated from (the first pays first-call costs)."""


def shortest_round_seconds(
    setup: Callable[[], tuple[Any, ...]],
    target: Callable[..., Any],
    budget_s: float,
    most: int = CALIBRATION_ROUNDS,
    clock: Callable[[], float] | None = None,
) -> float:
    """The shortest of up to ``most`` untimed runs of ``target(*setup())`` (the setup not timed), stopping once
    the runs took ``budget_s`` together.

    ``rounds_for`` turns a round's length into a number of rounds. Estimated from one run, a stall in that
    run (first-call costs, or a core taken by other work, routine in the perf suite's contended mode) made
    a millisecond case look like a 50 ms one and gave it the fewest rounds, whose median then landed on
    either side of the stalls from one run to the next. Noise only adds time, so the shortest of a few runs
    is the estimate; the budget keeps long cases at one run.
    """
    if most < 1:
        raise ValueError(f"most {most!r}: expected an integer >= 1")
    clock = clock or time.perf_counter
    shortest, spent = math.inf, 0.0
    for _ in range(most):
        arguments = setup()
        started = clock()
        target(*arguments)
        took = clock() - started
        del arguments  # before the next setup: two sets of 8192² arguments need not be alive at once
        shortest, spent = min(shortest, took), spent + took
        if spent >= budget_s:
            break
    return shortest
