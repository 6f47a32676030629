"""The reference's fast mask paths (issue #7) give torch.ao.pruning's masks, up to exact ties.

``WeightNormSparsifier`` masks are computed in row chunks with a linear-time cut and a sorting
network; of scores tied exactly at the cut, the first by position go (torch's choice among them is
``torch.topk``'s, which the contract leaves open). ``NearlyDiagonalSparsifier`` writes its band in
place. The randomized cases below compare with torch itself, up to ties, on weights full of ties,
over many chunks (``CHUNK_ELEMENTS`` made tiny) and with samples too small to bracket the cut
(``SAMPLE_SIZE`` made tiny); the tie rule itself is checked against its definition (pairwise ranks),
and each helper against its plain definition.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.ao.pruning as torch_ao
import torch.nn.functional as F
from prunebench.harness.memory import peak_memory_bytes
from prunebench.reference_impl import block_masks, nearly_diagonal_sparsifier, selection, whole_tensor_masks
from prunebench.suites.checks import as_blocks, assert_block_masks_equal_up_to_ties, kept
from torch import nn

from prunebench import reference_impl as ref

CASES = 120
BLOCKS = [(1, 1), (1, 2), (1, 4), (4, 1), (2, 2), (3, 3), (2, 4), (1, 8)]
POWER_OF_TWO_BLOCKS = [(1, 1), (1, 2), (1, 4), (4, 1), (2, 2), (2, 4)]
LEVELS = [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1.0]
WEIGHT_KINDS = ("randn", "small_ints", "binary", "rounded")
CHUNK_SIZES = (1, 7, 64, block_masks.CHUNK_ELEMENTS)
SAMPLE_SIZES = (3, block_masks.SAMPLE_SIZE)
NORMS: dict[str, Any] = {"l1": 1, "l2": 2, "cube": lambda weight: weight.abs() ** 3}


@dataclass(frozen=True)
class Case:
    """One randomized comparison: a weight, a sparsifier configuration, and the chunking to use."""

    weight: torch.Tensor
    kwargs: dict[str, Any]
    steps: int
    chunk_elements: int
    sample_size: int

    def describe(self) -> str:
        return (
            f"shape {tuple(self.weight.shape)} {self.weight.dtype}, {self.kwargs}, {self.steps} step(s), "
            f"chunks of {self.chunk_elements}, sample of {self.sample_size}"
        )


def _weight(rng: random.Random, shape: tuple[int, int], kind: str, seed: int) -> torch.Tensor:
    """Random weights; every kind but ``randn`` is full of equal norms, i.e. of ties."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "randn":
        return torch.randn(shape, generator=generator)
    if kind == "small_ints":
        return torch.randint(-3, 4, shape, generator=generator).float()
    if kind == "binary":
        return torch.randint(0, 2, shape, generator=generator).float()
    return (torch.randn(shape, generator=generator) * 4).round() / 4  # a few distinct values


def _case(seed: int, blocks: list[tuple[int, int]] = BLOCKS, kinds: tuple[str, ...] = WEIGHT_KINDS) -> Case:
    rng = random.Random(seed)
    block = rng.choice(blocks)
    shape = (rng.randint(1, 40), rng.randint(1, 40))
    size = block[0] * block[1]
    divisible = shape[0] % block[0] == 0 and shape[1] % block[1] == 0
    # torch crashes on partial blocks with 0 < zeros_per_block < block size (pytorch#134220)
    zeros = rng.randint(0, size) if divisible else rng.choice([0, size])
    kwargs = {
        "sparsity_level": rng.choice([*LEVELS, rng.random()]),
        "sparse_block_shape": block,
        "zeros_per_block": zeros,
        "norm": NORMS[rng.choice(sorted(NORMS))],
    }
    weight = _weight(rng, shape, rng.choice(kinds), seed)
    return Case(weight, kwargs, rng.randint(1, 3), rng.choice(CHUNK_SIZES), rng.choice(SAMPLE_SIZES))


def _prepared(sparsifier_class: type, case: Case) -> tuple[Any, nn.Linear]:
    """A fresh sparsifier of ``case.kwargs``, prepared on a bias-free Linear holding ``case.weight``."""
    layer = nn.Linear(case.weight.shape[1], case.weight.shape[0], bias=False, dtype=case.weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(case.weight)
    sparsifier = sparsifier_class(**case.kwargs)
    sparsifier.prepare(nn.Sequential(layer), None)
    return sparsifier, layer


def _mask(sparsifier_class: type, case: Case) -> torch.Tensor:
    """The bool mask after ``case.steps`` steps of a fresh sparsifier on a Linear holding ``case.weight``."""
    sparsifier, layer = _prepared(sparsifier_class, case)
    for _ in range(case.steps):
        sparsifier.step()
    return kept(layer.parametrizations.weight[0].mask)


def _element_scores(weight: torch.Tensor, norm: Any) -> torch.Tensor:
    """The contract's element scores of ``weight``, exactly (float64): ``|w|``, ``w^2`` or the callable's."""
    weight = weight.double()
    if norm == 1:
        return weight.abs()
    return weight.square() if norm == 2 else norm(weight)


def _assert_matches_torch(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference's last step against torch's one step on the weight that step scores, up to ties.

    After a first step the masks of the two may differ at ties, and so would the weights their next
    steps score; torch is therefore given the reference's masked weight, ``where(mask, weight, 0)``.
    """
    monkeypatch.setattr(block_masks, "CHUNK_ELEMENTS", case.chunk_elements)
    monkeypatch.setattr(block_masks, "SAMPLE_SIZE", case.sample_size)
    sparsifier, layer = _prepared(ref.WeightNormSparsifier, case)
    for _ in range(case.steps - 1):
        sparsifier.step()
    scored = layer.weight.detach().clone()  # the masked weight the last step ranks
    sparsifier.step()
    expected = _mask(torch_ao.WeightNormSparsifier, dataclasses.replace(case, weight=scored, steps=1))
    assert_block_masks_equal_up_to_ties(
        layer.parametrizations.weight[0].mask,
        expected,
        _element_scores(scored, case.kwargs.get("norm", 2)),
        case.kwargs["sparse_block_shape"],
        "weight",
        f"torch's mask on the same weight; {case.describe()}",
        precision=case.weight.dtype,
    )


@pytest.mark.parametrize("seed", range(CASES))
def test_weight_norm_matches_torch(seed, monkeypatch):
    _assert_matches_torch(_case(seed), monkeypatch)


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("seed", range(0, CASES, 4))
def test_half_precision_matches_torch(seed, half, monkeypatch):
    """Small-integer weights in power-of-two blocks: torch's half-precision norms and means are exact
    there, as the reference's float32 ones are, so every tie between them is an exact one."""
    case = _case(seed, POWER_OF_TWO_BLOCKS, ("small_ints", "binary"))
    _assert_matches_torch(Case(case.weight.to(half), {**case.kwargs, "norm": 2}, 1, 7, 3), monkeypatch)


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"sparsity_level": 0.5, "sparse_block_shape": (1, 1)},
        {"sparsity_level": 0.9, "sparse_block_shape": (1, 4)},
        {"sparsity_level": 1.0, "sparse_block_shape": (1, 4), "zeros_per_block": 2},
        {"sparsity_level": 0.5, "sparse_block_shape": (2, 2), "zeros_per_block": 1},
    ],
    ids=["1x1", "1x4", "2of4", "2x2_1"],
)
def test_non_finite_weights_match_torch(kwargs, value, monkeypatch):
    """One step (torch's masked NaN stays NaN, ``0 * nan``; the reference's becomes 0, by design)."""
    weight = torch.randn(16, 32, generator=torch.Generator().manual_seed(0))
    weight.view(-1)[torch.randperm(weight.numel(), generator=torch.Generator().manual_seed(1))[:40]] = value
    _assert_matches_torch(Case(weight, kwargs, 1, 64, 3), monkeypatch)


def _ranks(scores: torch.Tensor) -> torch.Tensor:
    """For each entry of 2-D ``scores``, how many entries of its row rank before it, by definition.

    An entry ranks before another when its score is lower (NaN above every number, NaNs equal) or,
    the scores being equal, when it comes first: all pairs compared, no sort. The ``count`` lowest of
    a row are the entries of rank below ``count``.
    """
    nan, value = torch.isnan(scores), scores.nan_to_num(nan=0.0)
    lower = (nan[:, :, None] < nan[:, None, :]) | (
        (nan[:, :, None] == nan[:, None, :]) & (value[:, :, None] < value[:, None, :])
    )
    equal = (nan[:, :, None] == nan[:, None, :]) & ((value[:, :, None] == value[:, None, :]) | nan[:, :, None])
    earlier = torch.ones(scores.shape[1], scores.shape[1], dtype=torch.bool).triu(1)  # [j, i]: j before i
    return (lower | (equal & earlier)).sum(1)  # [row, i]: how many j rank before entry i


def _tied_scores(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Scores of few values, NaN and +inf among them: ties everywhere, and at every cut."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.tensor([0.0, 1.0, 2.0, math.inf, math.nan])
    return values[torch.randint(0, len(values), shape, generator=generator)]


@pytest.mark.parametrize("size", [*range(2, 18), 24, 32, 33, 40])
def test_lowest_in_rows_breaks_ties_by_position(size):
    scores = _tied_scores((300, size), size)
    scores[::3] = torch.randn(scores[::3].shape)  # distinct scores: rows the network decides alone
    ranks = _ranks(scores)
    for count in range(1, size):
        assert torch.equal(selection.lowest_in_rows(scores, count), ranks < count), f"size {size}, count {count}"


@pytest.mark.parametrize("kind", ["distinct", "tied"])
@pytest.mark.parametrize("sample_size", [1, 50, 10_000])
def test_lowest_cut_breaks_ties_by_position(kind, sample_size):
    """The k lowest by (score, position), NaN last, over pieces of any shape; exact even from a useless sample."""
    n = 1500
    scores = torch.randperm(n).float() if kind == "distinct" else _tied_scores((n,), sample_size)
    pieces = [piece.view(-1, 7) if piece.numel() % 7 == 0 else piece for piece in scores.split(350)]
    starts = [0, *torch.tensor([piece.numel() for piece in pieces]).cumsum(0).tolist()[:-1]]
    sample = scores[:sample_size].sort().values.flip(0)  # biased on purpose: the first scores only
    ranks = _ranks(scores[None])[0]
    for k in [1, 2, 300, 750, 1200, n - 1]:
        cut = selection.lowest_cut([lambda piece=piece: piece for piece in pieces], sample, k, n)
        lowest = torch.cat([cut.lowest(piece, start).flatten() for piece, start in zip(pieces, starts, strict=True)])
        assert torch.equal(lowest, ranks < k), f"k={k}, {cut}"


TIE_CASES: dict[str, tuple[tuple[int, int], int, float]] = {
    "1x1": ((1, 1), 1, 0.5),
    "1x4": ((1, 4), 4, 0.5),
    "2x2_z1": ((2, 2), 1, 0.75),
    "2of4": ((1, 4), 2, 1.0),
}
"""(block, zeros_per_block, sparsity_level) of the tie cases: whole blocks, elements, both."""


def _by_position(scores: torch.Tensor, block: tuple[int, int], zeros: int, level: float) -> torch.Tensor:
    """The rule's keep-mask by definition (``scores`` 2-D float32, whole blocks): ties go to the first."""
    means = F.avg_pool2d(scores[None, None], block, block)[0, 0]  # bit for bit the reference's block means
    count = block_masks.blocks_to_select(level, means.numel())
    chosen = (_ranks(means.view(1, -1)) < count).view(means.shape)
    elements = as_blocks(scores, block, math.inf)
    zeroed = chosen[..., None] & (_ranks(elements.flatten(0, 1)) < zeros).view(elements.shape)
    grid = means.shape
    return ~zeroed.view(*grid, *block).transpose(1, 2).reshape(scores.shape)


@pytest.mark.parametrize("chunk_elements", [7, block_masks.CHUNK_ELEMENTS])
@pytest.mark.parametrize("tie_case", sorted(TIE_CASES))
def test_ties_at_the_cut_go_by_position(tie_case, chunk_elements, monkeypatch):
    """On weights of few values (NaN, inf among them), the mask is exactly the first-by-position rule's."""
    block, zeros, level = TIE_CASES[tie_case]
    monkeypatch.setattr(block_masks, "CHUNK_ELEMENTS", chunk_elements)
    for seed in range(5):
        weight = _tied_scores((24, 32), seed)
        kwargs = {"sparsity_level": level, "sparse_block_shape": block, "zeros_per_block": zeros, "norm": 1}
        actual = _mask(ref.WeightNormSparsifier, Case(weight, kwargs, 1, chunk_elements, block_masks.SAMPLE_SIZE))
        assert torch.equal(actual, _by_position(weight.abs(), block, zeros, level)), f"seed {seed}, {kwargs}"


@pytest.mark.parametrize("block_shape", [*BLOCKS, (1, 3), (3, 1), (4, 4)], ids=str)
@pytest.mark.parametrize("shape", [(24, 48), (25, 50), (7, 3)], ids=str)
def test_block_means_equal_avg_pool2d_bit_for_bit(block_shape, shape):
    scores = torch.randn(shape, generator=torch.Generator().manual_seed(0)).square()
    expected = F.avg_pool2d(scores[None, None], block_shape, block_shape, ceil_mode=True)[0, 0]
    assert torch.equal(block_masks.block_means(scores, block_shape), expected)


@pytest.mark.parametrize("diagonal_fills_max", [0, nearly_diagonal_sparsifier.DIAGONAL_FILLS_MAX], ids=["rows", "diag"])
@pytest.mark.parametrize("chunk_rows", [1, 3, nearly_diagonal_sparsifier.BAND_CHUNK_ROWS])
def test_band_matches_its_definition(chunk_rows, diagonal_fills_max, monkeypatch):
    monkeypatch.setattr(nearly_diagonal_sparsifier, "BAND_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(nearly_diagonal_sparsifier, "DIAGONAL_FILLS_MAX", diagonal_fills_max)
    for rows in range(1, 13):
        for cols in range(1, 13):
            row_ids, col_ids = torch.arange(rows)[:, None], torch.arange(cols)[None, :]
            for nearliness in [-1, 0, 1, 3, 5, 9, 23]:
                expected = (row_ids - col_ids).abs() <= nearliness // 2 if nearliness > 0 else torch.zeros(rows, cols)
                actual = nearly_diagonal_sparsifier.band_mask((rows, cols), nearliness, torch.device("cpu"))
                assert torch.equal(actual, expected.bool()), f"{rows}x{cols}, nearliness {nearliness}"


@pytest.mark.parametrize(("shape", "nearliness"), [((37, 37), 1), ((64, 40), 7), ((300, 520), 21), ((9, 600), 17)])
def test_nearly_diagonal_matches_torch(shape, nearliness):
    case = Case(torch.randn(shape), {"nearliness": nearliness}, 2, 0, 0)
    assert torch.equal(_mask(ref.NearlyDiagonalSparsifier, case), _mask(torch_ao.NearlyDiagonalSparsifier, case))


TIED_VALUES = 4096
"""Distinct weight values of the tied memory case: ~4M weights share them, ~1000 to a value."""


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sparsity_level": 0.5, "sparse_block_shape": (1, 1)},
        {"sparsity_level": 0.5, "sparse_block_shape": (1, 4)},
        {"sparsity_level": 1.0, "sparse_block_shape": (1, 4), "zeros_per_block": 2},
    ],
    ids=["1x1", "1x4", "2of4"],
)
@pytest.mark.parametrize("values", ["distinct", "tied"])
def test_step_peak_memory_below_the_weight(kwargs, values):
    """Chunked, in place: a step's temporaries stay well below the weight's own size (torch's: 5-8x).

    Distinct weights (1 + i/n, in random order), or weights of 4096 values (1 + j/4096), about a
    thousand of them equal to the one at the 1x1 cut: a tie there costs no weight-sized buffer.
    """
    rows, cols = 4096, 1024
    generator = torch.Generator().manual_seed(0)
    if values == "distinct":
        weight = torch.randperm(rows * cols, generator=generator) / (rows * cols) + 1
    else:
        weight = torch.randint(0, TIED_VALUES, (rows * cols,), generator=generator) / TIED_VALUES + 1
    layer = nn.Linear(cols, rows, bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight.view(rows, cols))
    sparsifier = ref.WeightNormSparsifier(**kwargs)
    sparsifier.prepare(nn.Sequential(layer), None)
    weight_bytes = layer.weight.numel() * layer.weight.element_size()
    assert peak_memory_bytes(sparsifier.step, "cpu") <= weight_bytes / 2


def test_squash_masks_the_original_parameter_in_place():
    """squash_mask bakes a lone FakeSparsity into the Parameter prepare moved aside, with no full-size copy."""
    model = nn.Sequential(nn.Linear(64, 64))
    parameter = model[0].weight
    sparsifier = ref.WeightNormSparsifier(0.5, (1, 4))
    sparsifier.prepare(model, None)
    sparsifier.step()
    mask = sparsifier.state["0.weight"]["mask"].clone()
    expected = torch.where(mask != 0, parameter.detach(), 0.0)
    peak = peak_memory_bytes(sparsifier.squash_mask, "cpu")
    assert model[0].weight is parameter, "squash_mask must hand back the Parameter the model had before prepare"
    assert torch.equal(model[0].weight.detach(), expected)
    assert peak is not None and peak < parameter.numel() * parameter.element_size(), f"a full-size temporary: {peak} B"


def test_squash_with_a_second_parametrization_evaluates_the_whole_stack():
    class Doubled(nn.Module):
        def forward(self, weight: torch.Tensor) -> torch.Tensor:
            return weight * 2

    model = nn.Sequential(nn.Linear(8, 8))
    sparsifier = ref.WeightNormSparsifier(0.5, (1, 1))
    sparsifier.prepare(model, None)
    sparsifier.step()
    torch.nn.utils.parametrize.register_parametrization(model[0], "weight", Doubled())
    expected = model[0].weight.detach().clone()
    sparsifier.squash_mask()
    assert torch.equal(model[0].weight.detach(), expected)


# -- the whole-tensor path (GPUs): forced here on CPU ------------------------------------------------


@pytest.fixture
def whole_tensor_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make CPU masks as accelerators make them: whole-tensor kernels, no chunks, no host round trip."""
    monkeypatch.setattr(block_masks, "CHUNKED_DEVICES", ())


@pytest.mark.parametrize("seed", range(0, CASES, 2))
def test_whole_tensor_path_matches_torch(seed, monkeypatch, whole_tensor_path):
    _assert_matches_torch(_case(seed), monkeypatch)


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("tie_case", sorted(TIE_CASES))
def test_whole_tensor_path_ties_go_by_position(tie_case, value, whole_tensor_path):
    """The same rule as the chunked path, bit for bit: ties at either cut by position, NaN last."""
    block, zeros, level = TIE_CASES[tie_case]
    for seed in range(5):
        weight = _tied_scores((24, 32), seed)
        weight[weight == math.inf] = value
        kwargs = {"sparsity_level": level, "sparse_block_shape": block, "zeros_per_block": zeros, "norm": 1}
        actual = _mask(ref.WeightNormSparsifier, Case(weight, kwargs, 1, 0, 0))
        assert torch.equal(actual, _by_position(weight.abs(), block, zeros, level)), f"seed {seed}, {kwargs}"


@pytest.mark.parametrize("float_dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str)
def test_order_keys_rank_as_topk(float_dtype):
    """Keys order and tie exactly as the floats do, -0 equal to +0, +inf after every number, NaNs last and equal."""
    special = torch.tensor([-math.inf, -1.5, -0.0, 0.0, 1e-3, 2.0, math.inf, math.nan, -math.nan], dtype=float_dtype)
    values = torch.cat([special, torch.randn(200, generator=torch.Generator().manual_seed(0)).to(float_dtype)])
    keys = whole_tensor_masks.order_keys(values)
    finite = ~torch.isnan(values)
    lower = (values[:, None] < values[None, :]) | (finite[:, None] & ~finite[None, :])
    equal = (values[:, None] == values[None, :]) | (~finite[:, None] & ~finite[None, :])
    assert torch.equal(keys[:, None] < keys[None, :], lower), f"{float_dtype}: keys order differently from the values"
    assert torch.equal(keys[:, None] == keys[None, :], equal), f"{float_dtype}: keys tie differently from the values"


def _host_reads(size: int, kwargs: dict[str, Any], steps: int) -> tuple[int, int]:
    """(device-to-host scalar reads, ``nonzero`` calls) of the last of ``steps`` steps on a ``size``-square weight."""
    sparsifier, _ = _prepared(ref.WeightNormSparsifier, Case(torch.randn(size, size), kwargs, steps, 0, 0))
    for _ in range(steps - 1):
        sparsifier.step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        sparsifier.step()
    names = [event.name for event in profile.events()]
    return names.count("aten::_local_scalar_dense"), names.count("aten::nonzero")


@pytest.mark.parametrize("steps", [1, 2], ids=["fresh_mask", "masked"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"sparsity_level": 0.5, "sparse_block_shape": (1, 1)},
        {"sparsity_level": 0.5, "sparse_block_shape": (1, 4)},
        {"sparsity_level": 1.0, "sparse_block_shape": (1, 4), "zeros_per_block": 2},
        {"sparsity_level": 0.5, "sparse_block_shape": (2, 2), "zeros_per_block": 1},
    ],
    ids=["1x1", "1x4", "2of4", "2x2_1"],
)
def test_whole_tensor_path_reads_the_host_a_constant_number_of_times(kwargs, steps, whole_tensor_path):
    """No ``nonzero`` and the same few scalar reads whatever the size: nothing per row, chunk or block."""
    small, large = _host_reads(64, kwargs, steps), _host_reads(512, kwargs, steps)
    assert small[1] == large[1] == 0, f"nonzero called (64: {small[1]}, 512: {large[1]} times): a host sync"
    assert small[0] == large[0] <= 4, f"scalar reads grow with the size or are many: 64: {small[0]}, 512: {large[0]}"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_squash_of_non_finite_weights_zeroes_masked_ones_and_keeps_the_rest(value):
    """The in-place multiply gives ``where``'s result even when masked or kept weights are inf or NaN."""
    model = nn.Sequential(nn.Linear(64, 64, bias=False))
    with torch.no_grad():
        model[0].weight[::3, ::5] = value
    parameter = model[0].weight
    sparsifier = ref.WeightNormSparsifier(0.5, (1, 1), norm=lambda weight: torch.rand_like(weight))
    sparsifier.prepare(model, None)
    sparsifier.step()
    mask = sparsifier.state["0.weight"]["mask"].clone()
    assert mask.min() == 0 and mask.max() == 1, "the random scores must mask some weights and keep others"
    expected = torch.where(mask != 0, parameter.detach(), 0.0)
    sparsifier.squash_mask()
    assert torch.equal(model[0].weight.detach().isnan(), expected.isnan()), "NaN where a NaN weight was kept only"
    assert torch.equal(model[0].weight.detach().nan_to_num(), expected.nan_to_num())
