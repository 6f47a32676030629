"""Timing helpers of the perf suite: device synchronisation and how many rounds a case gets.

Timing itself is pytest-benchmark's (``benchmark.pedantic`` in the perf suite's ``measure`` fixture).
"""

from __future__ import annotations

import math

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
