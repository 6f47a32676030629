"""Where the compiled WeightNorm step spends its time: each stage as a multiple of one read of the weight.

Builds ``reference_impl/native/weight_norm_step.cpp`` with ``-DWEIGHT_NORM_PROFILE`` (its stage timers, compiled
out of the kernel the sparsifier loads) into a temporary directory, then for each size, dtype, pattern and
thread count times the kernel and the read floor (``weight.sum()``, the perf suite's floor case) interleaved,
round by round, so drift hits both alike. Prints a Markdown table of medians: the whole step and each stage
(sample, pass 1, selecting the cut, pass 2) over the floor. Issue #24's target is a step within 8x the floor.

    python scripts/profile_weight_norm.py --sizes 4096,8192 --rounds 15
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from prunebench.reference_impl import block_masks
from prunebench.reference_impl.native import build, weight_norm

STAGES = ("sample", "pass 1", "select", "pass 2")
PATTERNS: dict[str, tuple[tuple[int, int], int, float]] = {
    "1x1": ((1, 1), 1, 0.5),
    "1x4": ((1, 4), 4, 0.5),
    "2:4": ((1, 4), 2, 1.0),
}
"""The perf suite's WeightNorm patterns: block shape, zeros per block, sparsity level."""
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Profile:
    """Medians over the rounds of one configuration, in seconds."""

    floor: float
    step: float
    stages: tuple[float, ...]


def profiled_kernel(directory: Path) -> ctypes.CDLL:
    """The kernel built with its stage timers on."""
    cxx = build.compiler()
    if cxx is None:
        sys.exit("no C++ compiler found (install g++ or set CXX)")
    library_path = directory / "weight_norm_step_profiled.so"
    command = [cxx, *build.FLAGS, "-DWEIGHT_NORM_PROFILE", "-o", str(library_path), str(weight_norm.KERNEL.path)]
    subprocess.run(command, check=True, timeout=build.BUILD_TIMEOUT_S)
    library = ctypes.CDLL(str(library_path))
    library.weight_norm_mask.restype = ctypes.c_int
    library.weight_norm_mask.argtypes = weight_norm._ARGUMENTS
    library.weight_norm_mask_stage_seconds.argtypes = [ctypes.POINTER(ctypes.c_double)]
    return library


def profile(library: ctypes.CDLL, size: int, dtype: torch.dtype, pattern: str, threads: int, rounds: int) -> Profile:
    block_shape, zeros_per_block, level = PATTERNS[pattern]
    torch.manual_seed(0)
    weight = torch.nn.Linear(size, size).weight.detach().to(dtype).contiguous()
    mask = torch.ones_like(weight)
    blocks = weight.numel() // (block_shape[0] * block_shape[1])
    count = block_masks.blocks_to_select(level, blocks)
    codes = torch.empty(blocks if count < blocks else 0, dtype=torch.uint8)
    stage_buffer = (ctypes.c_double * len(STAGES))()
    floors, steps, stages = [], [], []
    torch.set_num_threads(threads)
    for _ in range(rounds):
        mask.fill_(1)
        start = time.perf_counter()
        weight.sum()
        floors.append(time.perf_counter() - start)
        start = time.perf_counter()
        status = library.weight_norm_mask(
            weight.data_ptr(),
            mask.data_ptr(),
            codes.data_ptr() if codes.numel() else None,
            weight_norm.DTYPE_CODES[dtype],
            size,
            size,
            block_shape[0],
            block_shape[1],
            zeros_per_block,
            count,
            1,
            threads,
            weight_norm.CHUNK_ELEMENTS,
            weight_norm.SAMPLE_SIZE,
        )
        steps.append(time.perf_counter() - start)
        if status != weight_norm.OK:
            sys.exit(f"the kernel returned {status} for {size}² {dtype} {pattern}")
        library.weight_norm_mask_stage_seconds(stage_buffer)
        stages.append(tuple(stage_buffer))
    return Profile(
        floor=statistics.median(floors),
        step=statistics.median(steps),
        stages=tuple(statistics.median(round_stages[i] for round_stages in stages) for i in range(len(STAGES))),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,8192", help="square weight sides, comma-separated")
    parser.add_argument("--dtypes", default=",".join(DTYPES), help=f"of {', '.join(DTYPES)}")
    parser.add_argument("--patterns", default=",".join(PATTERNS), help=f"of {', '.join(PATTERNS)}")
    parser.add_argument("--threads", default=f"1,{torch.get_num_threads()}", help="thread counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args(argv)
    dtypes = [name.strip() for name in args.dtypes.split(",")]
    patterns = [name.strip() for name in args.patterns.split(",")]
    for name, known in (*((d, DTYPES) for d in dtypes), *((p, PATTERNS) for p in patterns)):
        if name not in known:
            parser.error(f"{name!r} is not one of {', '.join(known)}")
    with tempfile.TemporaryDirectory() as directory:
        library = profiled_kernel(Path(directory))
        print("| size | dtype | pattern | threads | floor | step | step x floor | " + " | ".join(STAGES) + " |")
        print("| --- " * (7 + len(STAGES)) + "|")
        for size in (int(side) for side in args.sizes.split(",")):
            for dtype in dtypes:
                for pattern in patterns:
                    for threads in (int(count) for count in args.threads.split(",")):
                        found = profile(library, size, DTYPES[dtype], pattern, threads, args.rounds)
                        shares = " | ".join(f"{stage / found.floor:.2f}x" for stage in found.stages)
                        print(
                            f"| {size}² | {dtype} | {pattern} | {threads} | {found.floor * 1e3:.2f} ms | "
                            f"{found.step * 1e3:.2f} ms | {found.step / found.floor:.1f}x | {shares} |",
                            flush=True,
                        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
