"""An independent side-by-side check of the WeightNorm step on a busy machine, outside the perf suite.

In one process, at torch's default thread count, with one CPU-bound process per core running beside it
(``harness.cpu_load``, started here and stopped at the end), time ``step()`` of the reference and of
``torch.ao.pruning`` on every WeightNorm case (1x1, 1x4, 2:4), round by round, the two interleaved (their
order alternating), each round on a fresh model with the same weights. Print each case's medians, worst
rounds and the reference / torch ratios, with the load around the run::

    python scripts/contention_probe.py                       # 4096², float32, 5 rounds, busy cores
    python scripts/contention_probe.py --size=8192 --dtype=float32,bfloat16 --rounds=3
    python scripts/contention_probe.py --no-load             # the same, on the machine as it is

It shares no code with the perf suite's timing (no pytest, no pytest-benchmark): a second opinion.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.ao.pruning as torch_ao
from prunebench.harness.cpu_load import CpuLoad
from prunebench.harness.environment import load_average
from torch import nn

from prunebench import reference_impl

CASES: dict[str, dict[str, Any]] = {
    "1x1": {"sparsity_level": 0.5, "sparse_block_shape": (1, 1)},
    "1x4": {"sparsity_level": 0.5, "sparse_block_shape": (1, 4)},
    "2:4": {"sparsity_level": 1.0, "sparse_block_shape": (1, 4), "zeros_per_block": 2},
}
BACKENDS = {"reference": reference_impl.WeightNormSparsifier, "torch": torch_ao.WeightNormSparsifier}


def _timed_step(sparsifier_class: type, weight: torch.Tensor, kwargs: dict[str, Any]) -> float:
    """Seconds of one ``step()`` of a fresh sparsifier prepared on a bias-free Linear holding ``weight``."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
    sparsifier = sparsifier_class(**kwargs)
    sparsifier.prepare(nn.Sequential(layer), None)
    started = time.perf_counter()
    sparsifier.step()
    return time.perf_counter() - started


def _probe(weight: torch.Tensor, kwargs: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    """Each backend's step times over ``rounds``, interleaved, the first backend alternating per round."""
    names = list(BACKENDS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # one untimed step each: first-call costs (imports, the kernel's load) out
        _timed_step(BACKENDS[name], weight, kwargs)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            times[name].append(_timed_step(BACKENDS[name], weight, kwargs))
    return times


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.1f} ms"


def _rows(size: int, dtypes: list[torch.dtype], rounds: int, emit: Callable[[str], None]) -> list[float]:
    """Probe every case and dtype, printing one line each; the median ratios, for the verdict."""
    ratios = []
    emit(f"{'case':<14} {'ref median':>12} {'ref worst':>12} {'torch median':>12} {'torch worst':>12}  ratios")
    for dtype in dtypes:
        weight = torch.randn(size, size, generator=torch.Generator().manual_seed(0)).to(dtype)
        for name, kwargs in CASES.items():
            times = _probe(weight, kwargs, rounds)
            reference, baseline = times["reference"], times["torch"]
            median = statistics.median(reference) / statistics.median(baseline)
            worst = max(reference) / max(baseline)
            ratios.append(median)
            label = f"{name} {str(dtype).removeprefix('torch.')}"
            emit(
                f"{label:<14} {_ms(statistics.median(reference))} {_ms(max(reference))} "
                f"{_ms(statistics.median(baseline))} {_ms(max(baseline))}  "
                f"median {median:.3f}x, worst {worst:.3f}x"
            )
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="the Linear weight's side (default 4096)")
    parser.add_argument("--dtype", default="float32", help="weight dtypes, comma-separated (default float32)")
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per backend and case (default 5)")
    parser.add_argument("--no-load", action="store_true", help="no busy processes: the machine as it is")
    args = parser.parse_args(argv)
    dtypes = [getattr(torch, name.strip()) for name in args.dtype.split(",")]
    if args.rounds < 1 or args.size < 4 or not all(isinstance(dtype, torch.dtype) for dtype in dtypes):
        parser.error("--rounds >= 1, --size >= 4 and floating dtypes such as float32,bfloat16 expected")
    cores = os.cpu_count() or 1
    print(
        f"WeightNorm step, {args.size}² weights, reference vs torch.ao.pruning, {args.rounds} rounds each, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads (torch's default), {cores} cores, "
        f"load average {load_average()} before"
    )
    started = time.monotonic()
    if args.no_load:
        print("no busy processes (--no-load)")
        ratios = _rows(args.size, dtypes, args.rounds, print)
    else:
        with CpuLoad() as load:
            print(f"{load.processes} busy processes (one per core) running beside the measurement")
            ratios = _rows(args.size, dtypes, args.rounds, print)
    print(f"load average {load_average()} after {time.monotonic() - started:.0f} s")
    faster = sum(ratio < 1 for ratio in ratios)
    print(f"reference faster than torch (median) in {faster} of {len(ratios)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
