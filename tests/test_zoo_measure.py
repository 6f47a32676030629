"""The zoo's measurement parts count and flag what they should: MACs, latency noise, efficiency, the table."""

from __future__ import annotations

import re

import pytest
import torch
from prunebench.suites.zoo.costs import macs, parameter_count
from prunebench.suites.zoo.latency import LatencyPair, interleaved_latency
from prunebench.suites.zoo.measure import Measurement, Timing
from prunebench.suites.zoo.report import markdown_table
from torch import nn


def test_macs_of_a_linear_are_batch_times_in_times_out():
    model = nn.Linear(8, 4)
    assert macs(model, (torch.randn(3, 8),)) == 3 * 8 * 4
    assert parameter_count(model) == 8 * 4 + 4


def test_macs_count_matmuls_between_activations():
    """Attention scores are a matmul of two activations: no layer hook sees it, FlopCounterMode does."""

    class Scores(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ x.transpose(-1, -2)

    assert macs(Scores(), (torch.randn(2, 5, 6),)) == 2 * 5 * 5 * 6


def test_latency_pair_speedup_and_noise():
    assert LatencyPair(2.0, 1.0, 5).speedup == 2.0
    assert LatencyPair(1.0, 1.1, 5, dense_iqr_s=0.2).within_noise
    assert not LatencyPair(1.0, 2.0, 5, dense_iqr_s=0.2, pruned_iqr_s=0.3).within_noise


def test_interleaved_latency_sees_a_slower_model():
    small, large = nn.Linear(16, 16), nn.Sequential(*[nn.Linear(512, 512) for _ in range(8)])
    pair = interleaved_latency(nn.Sequential(nn.Linear(16, 512), large), small, (torch.randn(4, 16),), rounds=5)
    assert pair.speedup > 1.0, pair
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        interleaved_latency(small, small, (torch.randn(1, 16),), rounds=0)


def _measured(**timing: object) -> Measurement:
    m = Measurement("b", "resnet", 0.3, params_dense=100, params_pruned=50, macs_dense=1000, macs_pruned=400)
    defaults = {"batch": 1, "dense_ms": 1.0, "pruned_ms": 2.0, "speedup": 0.5, "efficiency": 0.2}
    m.timings.append(Timing(**{**defaults, "slower": True, "within_noise": False, **timing}))
    return m


def test_table_flags_slower_and_escapes_failures():
    failed = Measurement("evil|backend", "vit", 0.5, failure="RuntimeError: a | b\nsecond line")
    table = markdown_table([_measured(), _measured(within_noise=True), failed])
    rows = table.splitlines()
    assert "0.50x | 0.40x" in rows[2] and "**slower**" in rows[2], rows[2]
    assert "slower, within noise" in rows[3] and "**slower**" not in rows[3], rows[3]
    assert "fails: RuntimeError: a \\| b second line" in rows[4] and "evil\\|backend" in rows[4], rows[4]
    columns = [len(re.findall(r"(?<!\\)\|", row)) - 1 for row in rows]
    assert columns == [8] * len(rows), f"every row needs the header's 8 cells, got {columns}:\n{table}"
