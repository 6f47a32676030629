"""What pruning buys on the zoo: parameters, MACs and measured latency, dense vs pruned, per backend.

Reproduce the published table (``results/zoo.md``, its JSON and plot under ``results/zoo/``)::

    python -m prunebench.suites.zoo.measure --backend=reference,torch,torch-pruning --zoo-size=tiny,full \
        --out=results/zoo.md

``--zoo-size`` picks the models: ``tiny`` (the zoo suite's configs, ``models.ZOO``) and/or ``full``
(ResNet-50, BERT-base and a Llama-3.2-1B-width decoder stack, ``full_size.ZOO_FULL``), each size a
table of its own. For each backend x zoo model x sparsity level it prunes with the zoo suite's lifecycle
(``pruning.prune_zoo_model``), then counts parameters and MACs (``costs``) and times dense and pruned
forwards interleaved at batch 1 and batch 32 (``latency``). **Efficiency** is the measured speedup over
the MAC reduction: 1.0 means the model got as much faster as its arithmetic shrank; below 1 the kernels
run the smaller shapes less efficiently, or time goes to work MACs do not count (memory traffic,
Python overhead, launch cost); a speedup below 1 (the pruned model is *slower*) is flagged. A backend
that fails on a model gets one line saying how. Rendering is in ``report``; this module measures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from prunebench.harness.backend import Backend, resolve_backends
from prunebench.harness.environment import describe_environment

from .costs import macs, parameter_count, torch_pruning_macs
from .full_size import ZOO_FULL
from .latency import WARMUP_ROUNDS, interleaved_latency
from .models import ZOO, ZooModel, example_inputs, require_transformers
from .pruning import SPARSITY_LEVELS, prune_zoo_model

BATCH_SIZES: tuple[int, ...] = (1, 32)


@dataclass(frozen=True)
class ZooSize:
    """The models of one zoo size and how many interleaved rounds each batch size gets."""

    records: tuple[ZooModel, ...]
    rounds: dict[int, int]
    warmup: int


SIZES: dict[str, ZooSize] = {
    "tiny": ZooSize(ZOO, {1: 51, 32: 15}, WARMUP_ROUNDS),
    "full": ZooSize(ZOO_FULL, {1: 7, 32: 3}, 1),
}
"""Timed rounds per side: enough for a stable median of millisecond forwards on a noisy 2-core VM (tiny);
for forwards of seconds (full), as many as fit a run of well under an hour there."""
DEFAULT_THREADS = 1
"""torch threads while timing: on a small machine shared with other work, one thread per forward keeps
two-thread forwards from colliding with it; ``--threads`` changes it (the table's header records it)."""


@dataclass
class Timing:
    batch: int
    dense_ms: float
    pruned_ms: float
    speedup: float
    efficiency: float
    slower: bool
    within_noise: bool  # the medians differ by less than an interquartile range


@dataclass
class Measurement:
    """One backend x model x level: the costs before and after pruning, or why there is no pruned model."""

    backend: str
    model: str
    sparsity_level: float
    size: str = "tiny"
    failure: str | None = None
    params_dense: int = 0
    params_pruned: int = 0
    macs_dense: int = 0
    macs_pruned: int = 0
    tp_macs_dense: int | None = None
    tp_macs_pruned: int | None = None
    timings: list[Timing] = field(default_factory=list)

    @property
    def mac_reduction(self) -> float:
        """Dense MACs over pruned MACs: 2.0 means half the arithmetic."""
        return self.macs_dense / self.macs_pruned


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def measure_one(backend: Backend, record: ZooModel, level: float, size: str = "tiny") -> Measurement:
    """Prune ``record``'s model with ``backend`` at ``level`` and measure what it costs before and after."""
    result = Measurement(backend.name, record.name, level, size)
    rounds, warmup = SIZES[size].rounds, SIZES[size].warmup
    try:
        case = prune_zoo_model(backend, record, level)
    except Exception as error:
        result.failure = _one_line(error)
        return result
    dense, pruned = case.dense, case.pruned.eval()
    one = example_inputs(record, batch=1)
    result.params_dense, result.params_pruned = parameter_count(dense), parameter_count(pruned)
    result.macs_dense, result.macs_pruned = macs(dense, one), macs(pruned, one)
    result.tp_macs_dense, result.tp_macs_pruned = torch_pruning_macs(dense, one), torch_pruning_macs(pruned, one)
    for batch in BATCH_SIZES:
        pair = interleaved_latency(dense, pruned, example_inputs(record, batch=batch), rounds[batch], warmup=warmup)
        result.timings.append(
            Timing(
                batch,
                pair.dense_s * 1e3,
                pair.pruned_s * 1e3,
                pair.speedup,
                pair.speedup / result.mac_reduction,
                pair.speedup < 1.0,
                pair.within_noise,
            )
        )
    return result


def measure(backends: Sequence[Backend], records: Sequence[ZooModel] = ZOO, size: str = "tiny") -> list[Measurement]:
    """Every backend x model x level, printing one progress line per case to stderr."""
    require_transformers()
    results = []
    for backend in backends:
        for record in records:
            for level in SPARSITY_LEVELS:
                result = measure_one(backend, record, level, size)
                status = result.failure or f"params {result.params_pruned / result.params_dense:.2f}x"
                print(f"zoo: {backend.name} {record.name} {level}: {status}", file=sys.stderr, flush=True)
                results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from .report import write_report

    parser = argparse.ArgumentParser(
        prog="python -m prunebench.suites.zoo.measure", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--backend", default="reference,torch,torch-pruning", help="comma-separated backends")
    parser.add_argument("--out", default="results/zoo.md", help="the Markdown table; JSON and plot go beside it")
    parser.add_argument("--models", default=None, help="comma-separated zoo model names (default: all)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch threads (default: 1)")
    parser.add_argument(
        "--zoo-size",
        type=_sizes,
        default=["tiny"],
        help="comma-separated zoo sizes: tiny (the zoo suite's configs), full (ResNet-50, BERT-base, a "
        "Llama-3.2-1B-width stack); default tiny",
    )
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    backends = resolve_backends(args.backend)
    chosen = args.models.split(",") if args.models else None
    environment = describe_environment()
    environment["backends"] = ", ".join(f"{b.name} {b.version}" for b in backends)
    environment["transformers"] = require_transformers().__version__
    results = []
    for size in args.zoo_size:
        records = [r for r in SIZES[size].records if chosen is None or r.name in chosen]
        results += measure(backends, records, size)
    environment["load_average_end"] = describe_environment()["load_average"]
    written = write_report(results, environment, Path(args.out))
    for path in written:
        print(path)
    return 0


def _sizes(text: str) -> list[str]:
    """``--zoo-size``: known sizes, comma-separated, in the order given."""
    sizes = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [size for size in sizes if size not in SIZES]
    if unknown or not sizes:
        raise argparse.ArgumentTypeError(f"{text!r}: expected zoo sizes from {sorted(SIZES)}, comma-separated")
    return list(dict.fromkeys(sizes))


def as_json(results: Sequence[Measurement], environment: dict[str, object]) -> str:
    rows = [{**asdict(r), "mac_reduction": None if r.failure else r.mac_reduction} for r in results]
    return json.dumps({"environment": environment, "measurements": rows}, indent=1)


if __name__ == "__main__":
    raise SystemExit(main())
