"""The reference's fast mask paths (issue #7) give exactly torch.ao.pruning's masks, ties included.

``WeightNormSparsifier`` masks are computed in row chunks with a linear-time threshold and a sorting
network that hand every tie to ``torch.topk``; ``NearlyDiagonalSparsifier`` writes its band in place.
The randomized cases below compare with torch itself on weights full of ties, over many chunks
(``CHUNK_ELEMENTS`` made tiny) and with samples too small to bracket the threshold (``SAMPLE_SIZE``
made tiny), and check each helper against its plain definition.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.ao.pruning as torch_ao
import torch.nn.functional as F
from torch import nn

import reference_impl as ref
from harness.memory import peak_memory_bytes
from reference_impl import block_masks, nearly_diagonal_sparsifier, selection

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


def _mask(sparsifier_class: type, case: Case) -> torch.Tensor:
    """The bool mask after ``case.steps`` steps of a fresh sparsifier on a Linear holding ``case.weight``."""
    layer = nn.Linear(case.weight.shape[1], case.weight.shape[0], bias=False, dtype=case.weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(case.weight)
    sparsifier = sparsifier_class(**case.kwargs)
    sparsifier.prepare(nn.Sequential(layer), None)
    for _ in range(case.steps):
        sparsifier.step()
    return layer.parametrizations.weight[0].mask != 0


def _assert_matches_torch(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(block_masks, "CHUNK_ELEMENTS", case.chunk_elements)
    monkeypatch.setattr(block_masks, "SAMPLE_SIZE", case.sample_size)
    expected = _mask(torch_ao.WeightNormSparsifier, case)
    actual = _mask(ref.WeightNormSparsifier, case)
    differing = int((actual != expected).sum())
    assert differing == 0, f"{differing} mask entries differ from torch's: {case.describe()}"


@pytest.mark.parametrize("seed", range(CASES))
def test_weight_norm_matches_torch(seed, monkeypatch):
    _assert_matches_torch(_case(seed), monkeypatch)


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("seed", range(0, CASES, 4))
def test_half_precision_matches_torch(seed, half, monkeypatch):
    """Small-integer weights in power-of-two blocks: torch's half-precision norms and means are exact
    there, as the reference's float32 ones are, so the masks must agree (ties and all)."""
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


@pytest.mark.parametrize("size", [*range(2, 18), 24, 32, 33, 40])
def test_lowest_in_rows_is_topks_choice(size):
    generator = torch.Generator().manual_seed(size)
    scores = torch.randint(0, 4, (500, size), generator=generator).float()
    scores[::7, 0] = math.nan
    for count in range(1, size):
        expected = torch.zeros(scores.shape, dtype=torch.bool)
        expected.scatter_(1, torch.topk(scores, count, dim=1, largest=False).indices, True)
        assert torch.equal(selection.lowest_in_rows(scores, count), expected), f"size {size}, count {count}"


@pytest.mark.parametrize("distinct", [True, False], ids=["distinct", "tied"])
@pytest.mark.parametrize("sample_size", [1, 50, 10_000])
def test_separating_threshold(distinct, sample_size):
    """The k-th lowest when exactly k scores are <= it, else None; correct even from a useless sample."""
    generator = torch.Generator().manual_seed(sample_size)
    scores = torch.randperm(5000, generator=generator).float() if distinct else torch.randint(0, 9, (5000,)).float()
    batches = list(scores.split(777))
    sample = scores[:sample_size].sort().values.flip(0)  # biased on purpose: the first scores only
    ordered = scores.sort().values
    for k in [1, 2, 500, 2500, 4999]:
        threshold = selection.separating_threshold(lambda: batches, sample, k, scores.numel())
        unique = ordered[k - 1] < ordered[k]
        assert (threshold is not None) == bool(unique), f"k={k}"
        if threshold is not None:
            assert threshold == ordered[k - 1] and int((scores <= threshold).sum()) == k


@pytest.mark.parametrize("block_shape", [*BLOCKS, (1, 3), (3, 1), (4, 4)], ids=str)
@pytest.mark.parametrize("shape", [(24, 48), (25, 50), (7, 3)], ids=str)
def test_block_means_equal_avg_pool2d_bit_for_bit(block_shape, shape):
    scores = torch.randn(shape, generator=torch.Generator().manual_seed(0)).square()
    expected = F.avg_pool2d(scores[None, None], block_shape, block_shape, ceil_mode=True)[0, 0]
    assert torch.equal(block_masks.block_means(scores, block_shape), expected)


@pytest.mark.parametrize("chunk_rows", [1, 3, nearly_diagonal_sparsifier.BAND_CHUNK_ROWS])
def test_band_matches_its_definition(chunk_rows, monkeypatch):
    monkeypatch.setattr(nearly_diagonal_sparsifier, "BAND_CHUNK_ROWS", chunk_rows)
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


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sparsity_level": 0.5, "sparse_block_shape": (1, 1)},
        {"sparsity_level": 0.5, "sparse_block_shape": (1, 4)},
        {"sparsity_level": 1.0, "sparse_block_shape": (1, 4), "zeros_per_block": 2},
    ],
    ids=["1x1", "1x4", "2of4"],
)
def test_step_peak_memory_below_the_weight(kwargs):
    """Chunked, in place: a step's temporaries stay well below the weight's own size (torch's: 5-8x).

    The weight's norms are all distinct (1 + i/n, in random order), so no tie sends the step to the
    ``torch.topk`` fallback, which needs weight-sized buffers as torch does.
    """
    rows, cols = 4096, 1024
    generator = torch.Generator().manual_seed(0)
    layer = nn.Linear(cols, rows, bias=False)
    with torch.no_grad():
        layer.weight.copy_((torch.randperm(rows * cols, generator=generator) / (rows * cols) + 1).view(rows, cols))
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
