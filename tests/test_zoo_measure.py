"""The zoo's measurement parts count and flag what they should: MACs, latency noise, efficiency, the table."""

from __future__ import annotations

import argparse
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


def test_zoo_sizes_parse_and_reject_unknown_ones():
    from prunebench.suites.zoo.measure import _sizes

    assert _sizes("full, tiny,full") == ["full", "tiny"]
    with pytest.raises(argparse.ArgumentTypeError, match=r"'huge': expected zoo sizes from \['full', 'tiny'\]"):
        _sizes("huge")


def test_the_report_gives_each_size_its_own_table():
    from prunebench.suites.zoo.report import _tables_by_size

    full = Measurement("b", "resnet50", 0.5, "full", failure="RuntimeError: out of memory")
    parts = _tables_by_size([_measured(), full])
    assert [p.splitlines()[0] for p in parts[::2]] == ["## The zoo's tiny configs", "## Real sizes"]
    assert "resnet (" in parts[1] and "resnet50" not in parts[1] and "resnet50 (" in parts[3], parts


# Published parameter counts: torchvision's resnet50 (1000 classes); bert-base-uncased's BertModel plus a
# 768 x 2 classifier; one Llama-3.2-1B decoder layer (q, o: 2048 x 2048; k, v: 2048 x 512; gate, up, down:
# 2048 x 8192; two RMSNorms of 2048).
LLAMA_LAYER = 2 * 2048 * 2048 + 2 * 2048 * 512 + 3 * 2048 * 8192 + 2 * 2048
REAL_PARAMETERS = {
    "resnet50": 25_557_032,
    "bert_base": 109_482_240 + 768 * 2 + 2,
    "llama_1b": 4 * LLAMA_LAYER + 32000 * 2048 + 2048,
}


@pytest.mark.parametrize("name", REAL_PARAMETERS)
def test_the_full_size_zoo_has_the_published_shapes(name: str):
    pytest.importorskip("transformers")
    from prunebench.suites.zoo.full_size import ZOO_FULL

    record = next(r for r in ZOO_FULL if r.name == name)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = record.build()
    assert parameter_count(model) == REAL_PARAMETERS[name]
