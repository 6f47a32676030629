"""The compiled WeightNorm kernel (``reference_impl/native``) against its oracle, the readable ``block_masks``.

Both follow one rule, ties included (the first by position goes), so their masks must be *equal*, not
merely equal up to ties: on random shapes, blocks, levels, zeros per block, norms and dtypes; on weights
full of ties, NaN, inf and half-precision subnormals; with fresh, random and already-stepped masks; with
tiny chunks and samples (every chunk boundary and bracket end exercised; the exact search taken when the
sample misjudges the cut) and several threads. A deliberately wrong kernel is caught by the same
comparison. The build is optional: without a compiler, or when the kernel cannot be built, the readable
version runs with a warning, and the sparsifier's masks are the same.
"""

from __future__ import annotations

import ctypes
import math
import os
import random
import re
import stat
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from prunebench.reference_impl import block_masks, weight_norm_sparsifier
from prunebench.reference_impl.native import build, threads
from prunebench.reference_impl.native import weight_norm as native
from torch import nn

from prunebench import reference_impl as ref

CASES = 160
BLOCKS = [(1, 1), (1, 2), (1, 4), (4, 1), (2, 2), (2, 4), (1, 8), (3, 3), (8, 8)]
LEVELS = [0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1.0]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
NAN_PAYLOADS = {  # bit patterns as signed integers: a quiet NaN with a payload, a signalling one, a negative one
    torch.float32: [0x7FC00123, 0x7F800001, 0xFFC00000 - (1 << 32)],
    torch.float16: [0x7E05, 0x7C01, 0xFE00 - (1 << 16)],
    torch.bfloat16: [0x7FC3, 0x7F81, 0xFFC0 - (1 << 16)],
}
WEIGHT_KINDS = ("randn", "small_ints", "binary", "rounded", "non_finite", "tiny")
MASK_KINDS = ("fresh", "random", "stepped")
CHUNK_ELEMENTS = (1, 7, 64, native.CHUNK_ELEMENTS)
SAMPLE_SIZES = (1, 3, 50, native.SAMPLE_SIZE)
NORM_FUNCTIONS = {1: torch.abs, 2: torch.square}


@pytest.fixture(scope="module")
def kernel() -> Callable:
    """The built kernel; a machine that cannot build it reports these tests unsupported, saying why."""
    if not build.enabled():
        pytest.skip(f"unsupported: compiled kernels are off ({build.ENABLED_ENV}=0)")
    try:
        library = build.load(native.KERNEL, build.cache_directory(), build.compiler())
    except build.BuildError as error:
        pytest.skip(f"unsupported: the kernel cannot be built here: {error}")
    return library


@dataclass(frozen=True)
class Case:
    weight: torch.Tensor
    mask_kind: str
    norm: int
    level: float
    block_shape: tuple[int, int]
    zeros_per_block: int
    threads: int
    chunk_elements: int
    sample_size: int

    def describe(self) -> str:
        return (
            f"{tuple(self.weight.shape)} {self.weight.dtype}, mask {self.mask_kind}, norm {self.norm}, level "
            f"{self.level:.4g}, block {self.block_shape}, zeros {self.zeros_per_block}, {self.threads} thread(s), "
            f"chunks of {self.chunk_elements}, sample of {self.sample_size}"
        )


def _weight(shape: tuple[int, int], kind: str, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Random weights; every kind but ``randn`` is full of equal norms (ties), ``non_finite`` holds NaN and +-inf,
    ``tiny`` values that are subnormal in half precision."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "small_ints":
        weight = torch.randint(-3, 4, shape, generator=generator).float()
    elif kind == "binary":
        weight = torch.randint(0, 2, shape, generator=generator).float()
    elif kind == "rounded":
        weight = (torch.randn(shape, generator=generator) * 4).round() / 4
    elif kind == "tiny":
        weight = torch.randn(shape, generator=generator) * 1e-7
    else:
        weight = torch.randn(shape, generator=generator)
    if kind == "non_finite":
        picks = torch.randint(0, weight.numel(), (max(1, weight.numel() // 20),), generator=generator)
        weight.view(-1)[picks] = torch.tensor([math.nan, math.inf, -math.inf])[picks % 3]
    weight = weight.to(dtype)
    if kind == "non_finite":  # NaNs of other payloads and signs (a signalling one among them): all one NaN to rank
        nan_picks = picks[picks % 3 == 0][::2]
        bits = weight.view(torch.int32 if dtype == torch.float32 else torch.int16).view(-1)
        bits[nan_picks] = torch.tensor(NAN_PAYLOADS[dtype], dtype=bits.dtype)[nan_picks % len(NAN_PAYLOADS[dtype])]
    return weight


def _case(seed: int) -> Case:
    rng = random.Random(seed)
    block = rng.choice(BLOCKS)
    shape = (block[0] * rng.randint(1, 24), block[1] * rng.randint(1, 24))
    size = block[0] * block[1]
    return Case(
        weight=_weight(shape, rng.choice(WEIGHT_KINDS), rng.choice(DTYPES), seed),
        mask_kind=rng.choice(MASK_KINDS),
        norm=rng.choice([1, 2]),
        level=rng.choice([*LEVELS, rng.random()]),
        block_shape=block,
        zeros_per_block=rng.randint(1, size),
        threads=rng.choice([1, 2, 3]),
        chunk_elements=rng.choice(CHUNK_ELEMENTS),
        sample_size=rng.choice(SAMPLE_SIZES),
    )


def _mask(case: Case, seed: int) -> torch.Tensor:
    """The mask the step starts from: all kept, random, or the mask one readable step leaves."""
    if case.mask_kind == "fresh":
        return torch.ones_like(case.weight)
    if case.mask_kind == "random":
        generator = torch.Generator().manual_seed(seed + 1)
        return (torch.rand(case.weight.shape, generator=generator) < 0.6).to(case.weight.dtype)
    mask = torch.ones_like(case.weight)
    _readable(mask, case)
    return mask


def _scores(weight: torch.Tensor, mask: torch.Tensor, norm: int) -> torch.Tensor:
    """The sparsifier's element scores: the norm of the weight in float32, 0 where the mask is 0."""
    scores = NORM_FUNCTIONS[norm](weight.float())
    return torch.where(mask.bool(), scores, torch.zeros((), dtype=scores.dtype))


def _readable(mask: torch.Tensor, case: Case) -> None:
    scores = _scores(case.weight, mask, case.norm)
    block_masks.weight_norm_mask(mask, lambda rows: scores[rows], case.level, case.block_shape, case.zeros_per_block)


def _native(mask: torch.Tensor, case: Case) -> bool:
    return native.native_weight_norm_mask(
        mask, case.weight, case.norm, case.level, case.block_shape, case.zeros_per_block, threads=case.threads
    )


def _assert_native_matches_readable(
    case: Case, seed: int, monkeypatch: pytest.MonkeyPatch, kernel_step: Callable[[torch.Tensor, Case], bool] = _native
) -> None:
    monkeypatch.setattr(native, "CHUNK_ELEMENTS", case.chunk_elements)
    monkeypatch.setattr(native, "SAMPLE_SIZE", case.sample_size)
    start = _mask(case, seed)
    expected, actual = start.clone(), start.clone()
    _readable(expected, case)
    if not kernel_step(actual, case):  # the trivial levels only (a fill) are left to the readable version
        size = case.block_shape[0] * case.block_shape[1]
        count = block_masks.blocks_to_select(case.level, expected.numel() // size)
        trivial = count == 0 or (count == expected.numel() // size and case.zeros_per_block >= size)
        assert trivial, f"the kernel declined a level it takes; {case.describe()}"
        assert torch.equal(actual, start), f"the kernel declined but wrote the mask; {case.describe()}"
        return
    differ = (actual != expected).nonzero()
    assert differ.numel() == 0, (
        f"kernel and readable masks differ at {differ.shape[0]} of {expected.numel()} entries "
        f"(first {differ[:3].tolist()}); {case.describe()}"
    )


@pytest.mark.parametrize("seed", range(CASES))
def test_kernel_equals_the_readable_version(seed, kernel, monkeypatch):
    _assert_native_matches_readable(_case(seed), seed, monkeypatch)


def _off_by_one(mask: torch.Tensor, case: Case) -> bool:
    """A wrong kernel: one block too many masked (the level's count + 1)."""
    blocks = case.weight.numel() // (case.block_shape[0] * case.block_shape[1])
    level = min(1.0, (block_masks.blocks_to_select(case.level, blocks) + 1) / blocks)
    return native.native_weight_norm_mask(
        mask, case.weight, case.norm, level, case.block_shape, case.zeros_per_block, threads=case.threads
    )


def _ties_to_the_last(mask: torch.Tensor, case: Case) -> bool:
    """A wrong kernel: of scores tied at the cut, the last by position go (the kernel run on the flipped weight)."""
    flipped = Case(**{**case.__dict__, "weight": case.weight.flip(0, 1).contiguous()})
    mask.copy_(mask.flip(0, 1))
    applied = _native(mask, flipped)
    mask.copy_(mask.flip(0, 1))
    return applied


@pytest.mark.parametrize("broken", [_off_by_one, _ties_to_the_last], ids=["off_by_one", "ties_to_the_last"])
def test_the_comparison_catches_a_wrong_kernel(broken, kernel, monkeypatch):
    case = Case(_weight((16, 32), "small_ints", torch.float32, 0), "fresh", 1, 0.5, (1, 4), 4, 1, 64, 3)
    with pytest.raises(AssertionError, match="kernel and readable masks differ"):
        _assert_native_matches_readable(case, 0, monkeypatch, broken)


def _exact_searches(library: ctypes.CDLL) -> int:
    counter = library.weight_norm_mask_exact_searches
    counter.restype = ctypes.c_int64
    return counter()


@pytest.mark.parametrize("block_shape", [(1, 1), (1, 4), (2, 2)], ids=str)
@pytest.mark.parametrize("weight_dtype", DTYPES, ids=str)
def test_a_cut_among_nans_of_different_payloads_ranks_them_by_position(weight_dtype, block_shape, kernel, monkeypatch):
    """Three in four weights NaN, of every payload and sign: the cut at half falls among them, where every NaN is
    one score (after +inf) and position alone decides. A kernel that ranked NaNs by their bits would differ."""
    generator = torch.Generator().manual_seed(7)
    weight = torch.randn(64, 96, generator=generator).to(weight_dtype)
    bits = weight.view(torch.int32 if weight_dtype == torch.float32 else torch.int16).view(-1)
    payloads = torch.tensor(NAN_PAYLOADS[weight_dtype], dtype=bits.dtype)
    nans = torch.randperm(bits.numel(), generator=generator)[: 3 * bits.numel() // 4]
    bits[nans] = payloads[torch.randint(0, len(payloads), (nans.numel(),), generator=generator)]
    for norm in (1, 2):
        case = Case(weight, "fresh", norm, 0.5, block_shape, block_shape[0] * block_shape[1], 2, 1 << 10, 1 << 8)
        _assert_native_matches_readable(case, 7, monkeypatch)


@pytest.mark.parametrize("block_shape", [(1, 4), (2, 2)], ids=str)
@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("weight_dtype", DTYPES, ids=str)
def test_block_means_are_summed_in_row_major_order(weight_dtype, norm, block_shape, kernel, monkeypatch):
    """Blocks scoring [1, 0, e, e] and [1, 0, 0, 0], e half an ulp of 1, alternate. Summed in row-major order,
    ((1 + 0) + e) + e rounds to 1: every block ties and the first half by position go, both kinds. Summed in
    pairs, (1 + 0) + (e + e) does not round to 1, and a kernel that summed so would take only the second kind."""
    small = 2.0**-24 if norm == 1 else 2.0**-12  # its score (|w| or w * w) is half an ulp of 1 in float32
    kinds = torch.tensor([[1.0, 0.0, small, small], [1.0, 0.0, 0.0, 0.0]])
    rows, cols = 8, 16  # blocks
    blocks = kinds[torch.arange(rows * cols) % 2].view(rows, cols, *block_shape)
    weight = blocks.permute(0, 2, 1, 3).reshape(rows * block_shape[0], cols * block_shape[1]).to(weight_dtype)
    case = Case(weight, "fresh", norm, 0.5, block_shape, 4, 2, 1 << 6, 1 << 6)
    expected = torch.ones_like(weight)
    _readable(expected, case)
    first_kind_masked = expected.view(rows, block_shape[0], cols, block_shape[1])[:, 0, 0::2, 0] == 0
    assert first_kind_masked.any(), "the readable version should see the two kinds tie"
    _assert_native_matches_readable(case, 0, monkeypatch)


@pytest.mark.parametrize("why", ["sample_misjudges_the_cut", "bracket_holds_too_many"])
def test_a_useless_sample_falls_back_to_the_exact_search(why, kernel, monkeypatch):
    """A sample of 16 blocks (``SAMPLE_SIZE`` 1): the first ones, all far above the cut at level 0.9, so the
    bracket misses it; or spread like the rest at level 0.5, so the bracket is open and the one chunk holds
    more than its share inside. The histogram search then finds the same cut."""
    weight = torch.rand(128, 128, generator=torch.Generator().manual_seed(0))
    level = 0.5
    if why == "sample_misjudges_the_cut":
        weight.view(-1)[:16] = 10.0
        level = 0.9
    case = Case(weight, "fresh", 2, level, (1, 1), 1, 1, weight.numel(), 1)
    before = _exact_searches(kernel)
    _assert_native_matches_readable(case, 0, monkeypatch)
    assert _exact_searches(kernel) == before + 1, "the sampled bracket should not have served this cut"


@pytest.mark.parametrize("weight_dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"sparsity_level": 0.5, "sparse_block_shape": (1, 1)},
        {"sparsity_level": 0.7, "sparse_block_shape": (1, 4)},
        {"sparsity_level": 1.0, "sparse_block_shape": (1, 4), "zeros_per_block": 2},
        {"sparsity_level": 0.5, "sparse_block_shape": (2, 2), "zeros_per_block": 1, "norm": 1},
    ],
    ids=["1x1", "1x4", "2of4", "2x2_1_l1"],
)
def test_sparsifier_steps_equal_with_and_without_the_kernel(kwargs, weight_dtype, kernel, monkeypatch):
    """Three steps of the sparsifier itself, through the kernel and through the readable version."""
    masks = {}
    for path in ("kernel", "readable"):
        monkeypatch.setenv(build.ENABLED_ENV, "1" if path == "kernel" else "0")
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(96, 64, bias=False, dtype=weight_dtype))
        sparsifier = ref.WeightNormSparsifier(**kwargs)
        sparsifier.prepare(model, None)
        for _ in range(3):
            sparsifier.step()
            with torch.no_grad():
                model[0].parametrizations.weight.original.mul_(-1.5).add_(0.25)  # new scores for the next step
        masks[path] = model[0].parametrizations.weight[0].mask.clone()
    assert torch.equal(masks["kernel"], masks["readable"])


def test_the_kernel_declines_while_torch_flushes_denormals(kernel):
    """torch's float comparisons then treat subnormal scores as 0; the readable version keeps torch's answer."""
    weight = torch.full((8, 8), 1e-39)
    mask = torch.ones_like(weight)
    if not torch.set_flush_denormal(True):
        pytest.skip("unsupported: this CPU cannot flush denormals")
    try:
        applied = native.native_weight_norm_mask(mask, weight, 1, 0.5, (1, 1), 1)
    finally:
        torch.set_flush_denormal(False)
    assert not applied and torch.equal(mask, torch.ones_like(weight))


def _fake_compiler(tmp_path: Path, name: str, body: str) -> str:
    """An executable standing in for the compiler: answers --version, then runs ``body``."""
    script = tmp_path / name
    script.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo fake 1.0; exit 0; fi\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("none", "no C++ compiler found"),
        ("missing", "does not run"),
        ("fails", "exited with 1"),
        ("hangs", "took longer than"),
        ("writes_garbage", "does not load"),
    ],
)
def test_a_kernel_that_cannot_be_built_is_a_clear_error_and_leaves_nothing(setup, message, tmp_path):
    compilers = {
        "none": None,
        "missing": str(tmp_path / "no-such-compiler"),
        "fails": _fake_compiler(tmp_path, "fails", "echo 'error: broken' >&2; exit 1"),
        "hangs": _fake_compiler(tmp_path, "hangs", "sleep 30"),
        "writes_garbage": _fake_compiler(tmp_path, "garbage", 'while [ "$1" != "-o" ]; do shift; done; echo x > "$2"'),
    }
    cache = tmp_path / "cache"
    limit = 1.0 if setup == "hangs" else 60.0  # a shell script on a busy machine can take a second to start
    with pytest.raises(build.BuildError, match=re.escape(message)):
        build.load(native.KERNEL, cache, compilers[setup], timeout_s=limit)
    leftovers = sorted(path.name for path in cache.glob("*")) if cache.exists() else []
    assert not [name for name in leftovers if name.endswith(".so")], f"a library or temporary file left: {leftovers}"
    # (a library that does not load is removed too: the next process builds it again rather than failing)
    if setup == "fails":  # remembered: the next process does not compile the same source again
        assert [name for name in leftovers if name.endswith(".failed")]
        with pytest.raises(build.BuildError, match="failed to compile before"):
            build.load(native.KERNEL, cache, compilers[setup], timeout_s=limit)


def _stepped_mask(steps: int) -> tuple[torch.Tensor, list[warnings.WarningMessage]]:
    """The mask after ``steps`` steps of a 1x4 sparsifier on a seeded Linear, and the warnings they raised."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64, bias=False))
    sparsifier = ref.WeightNormSparsifier(0.5, (1, 4))
    sparsifier.prepare(model, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(steps):
            sparsifier.step()
    return model[0].parametrizations.weight[0].mask.clone(), caught


def test_without_the_kernel_the_step_warns_once_and_gives_the_same_masks(monkeypatch, tmp_path):
    """No compiler: one NativeKernelWarning naming why, and the readable version's masks."""
    monkeypatch.setenv(build.ENABLED_ENV, "0")
    expected, _ = _stepped_mask(2)
    monkeypatch.setenv(build.ENABLED_ENV, "1")
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path / "cache"))
    build.library_of.cache_clear()
    try:
        mask, caught = _stepped_mask(2)
    finally:
        build.library_of.cache_clear()  # later tests load the real kernel again
    kernel_warnings = [w for w in caught if issubclass(w.category, build.NativeKernelWarning)]
    assert len(kernel_warnings) == 1, [str(w.message) for w in caught]
    assert "readable version runs" in str(kernel_warnings[0].message)
    assert "no-such-compiler" in str(kernel_warnings[0].message)
    assert torch.equal(mask, expected)


def test_the_kernel_applies_only_where_it_computes_the_same_rule():
    """Not on partial edge blocks, other dtypes, a mask of another dtype, non-contiguous weights, huge blocks."""
    weight = torch.randn(8, 12)
    assert native.applies(torch.ones_like(weight), weight, (1, 4))
    assert not native.applies(torch.ones_like(weight), weight, (1, 5)), "partial edge blocks"
    assert not native.applies(torch.ones(8, 12, dtype=torch.float64), weight.double(), (1, 4)), "float64"
    assert not native.applies(torch.ones(8, 12, dtype=torch.bool), weight, (1, 4)), "a bool mask"
    assert not native.applies(torch.ones(12, 8).t(), weight, (1, 4)), "a non-contiguous mask"
    assert not native.applies(torch.ones(8, 12), torch.randn(12, 8).t(), (1, 4)), "a non-contiguous weight"
    assert not native.applies(torch.ones(16, 16), torch.randn(16, 16), (8, 16)), "a block of 128 elements"


def test_threads_follow_torch_and_the_weight_size():
    assert threads.threads_for(10) == 1, "a small weight is not worth a second thread"
    expected = min(torch.get_num_threads(), 64)
    assert threads.threads_for(64 * threads.ELEMENTS_PER_THREAD) == expected
    assert native.threads_for is threads.threads_for, "the kernel sizes its threads by the shared rule"


def test_the_sparsifier_module_names_the_native_path():
    """The readable path stays reachable: the sparsifier falls back to it whenever the kernel says no."""
    assert weight_norm_sparsifier.native_weight_norm_mask is native.native_weight_norm_mask
    assert os.path.exists(native.KERNEL.path)


def test_the_profile_script_states_every_stage_of_every_configuration(kernel):
    """scripts/profile_weight_norm.py builds the kernel with its stage timers and prints one row per dtype, pattern
    and thread count: the step and the stages it timed (a stage left untimed reads 0.00x; 2:4 has no cut)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "profile_weight_norm.py"
    command = [sys.executable, str(script), "--sizes", "256", "--rounds", "1", "--threads", "1"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert output.returncode == 0, output.stderr[-2000:]
    rows = [line.split(" | ") for line in output.stdout.splitlines() if line.startswith("| 256²")]
    assert len(rows) == 9, output.stdout
    for row in rows:
        pattern, stages = row[2], [float(cell.strip(" |x")) for cell in row[7:]]
        timed = stages[3:] if pattern == "2:4" else stages
        assert all(share > 0 for share in timed), row
        assert pattern != "2:4" or stages[:3] == [0.0, 0.0, 0.0], row
