"""Wall-clock timing of an operation on fresh inputs per round, and the statistics we publish.

Each round calls ``setup()`` untimed (a fresh model, so no round sees another's masks) and then
times ``operation(*setup_result)``; on CUDA the device is synchronised before the clock starts and
before it stops, so asynchronous kernels are counted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class TimingStats:
    """Seconds: the minimum, median, interquartile range and mean of ``rounds`` timed rounds."""

    min: float
    median: float
    iqr: float
    mean: float
    rounds: int

    @classmethod
    def from_samples(cls, samples: list[float]) -> TimingStats:
        if not samples:
            raise ValueError("no timing samples: at least one round is needed")
        ordered = sorted(samples)
        if len(ordered) >= 2:
            quartiles = statistics.quantiles(ordered, n=4, method="inclusive")
            iqr = quartiles[2] - quartiles[0]
        else:
            iqr = 0.0
        return cls(ordered[0], statistics.median(ordered), iqr, statistics.fmean(ordered), len(ordered))

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))


def time_rounds(
    setup: Callable[[], tuple[Any, ...]], operation: Callable[..., Any], device: str, rounds: int
) -> TimingStats:
    """Time ``operation`` over ``rounds`` rounds, each on what a fresh ``setup()`` returned."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    samples = []
    for _ in range(rounds):
        arguments = setup()
        synchronize(device)
        start = time.perf_counter()
        operation(*arguments)
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return TimingStats.from_samples(samples)
