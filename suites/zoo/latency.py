"""Latency of a dense and a pruned model, measured interleaved so that both see the same machine.

Rounds alternate dense, pruned, dense, pruned...: a burst of load from elsewhere then hits both
alike instead of one model's whole series. Each side's median over its rounds is what is reported.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from prunebench.harness.timing import synchronize
from torch import nn

from .models import ExampleInputs

WARMUP_ROUNDS = 3
"""Untimed forwards of each model first: allocator, thread pool and kernel caches settle."""


@dataclass(frozen=True)
class LatencyPair:
    """Median seconds of one forward, dense and pruned, over ``rounds`` interleaved rounds each, and their spread."""

    dense_s: float
    pruned_s: float
    rounds: int
    dense_iqr_s: float = 0.0
    pruned_iqr_s: float = 0.0

    @property
    def within_noise(self) -> bool:
        """The two medians differ by less than the wider interquartile range: the order is not established."""
        return abs(self.dense_s - self.pruned_s) < max(self.dense_iqr_s, self.pruned_iqr_s)

    @property
    def speedup(self) -> float:
        """Dense time over pruned time: above 1, pruning made the model faster."""
        return self.dense_s / self.pruned_s


def _forward_seconds(model: nn.Module, inputs: ExampleInputs, device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    model(*inputs)
    synchronize(device)
    return time.perf_counter() - start


@torch.no_grad()
def interleaved_latency(
    dense: nn.Module,
    pruned: nn.Module,
    inputs: ExampleInputs,
    rounds: int,
    device: str = "cpu",
    warmup: int = WARMUP_ROUNDS,
) -> LatencyPair:
    """Median forward time of ``dense`` and ``pruned`` on ``inputs``, rounds interleaved, after ``warmup``
    untimed forwards of each."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    for _ in range(warmup):
        dense(*inputs)
        pruned(*inputs)
    dense_samples, pruned_samples = [], []
    for _ in range(rounds):
        dense_samples.append(_forward_seconds(dense, inputs, device))
        pruned_samples.append(_forward_seconds(pruned, inputs, device))
    return LatencyPair(
        statistics.median(dense_samples),
        statistics.median(pruned_samples),
        rounds,
        _iqr(dense_samples),
        _iqr(pruned_samples),
    )


def _iqr(samples: list[float]) -> float:
    if len(samples) < 2:
        return 0.0
    quartiles = statistics.quantiles(samples, n=4, method="inclusive")
    return quartiles[2] - quartiles[0]
