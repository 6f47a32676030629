"""``WeightNormSparsifier``: exact zero fractions over the settings grid, ranking, 2:4, norms, stability."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from .checks import (
    assert_block_masks_equal_up_to_ties,
    assert_close,
    assert_masks_equal_up_to_ties,
    assert_zero_fraction,
    kept,
    mask_of,
    original_of,
    zero_fraction,
)
from .models import SimpleLinear, build, linear_stack

pytestmark = pytest.mark.requires("WeightNormSparsifier")

LEVELS = (-1.0, 0.0, 0.5, 1.0, 2.0)
BLOCKS = ((1, 1), (1, 4), (2, 2), (4, 1))
GRID = [
    pytest.param(level, block, zeros, id=f"level{level:g}-block{block[0]}x{block[1]}-zeros{zeros}")
    for level, block, zeros in itertools.product(LEVELS, BLOCKS, range(5))
    if zeros <= block[0] * block[1]
]
GRID_SIDE = 12  # divisible by every block side above, so every level maps to a whole number of blocks


@pytest.mark.filterwarnings("ignore:sparsity_level=.* is outside")  # levels -1 and 2 are clamped on purpose
@pytest.mark.parametrize(("level", "block", "zeros"), GRID)
def test_sparsity_grid(backend, device, dtype, level, block, zeros):
    model = linear_stack([(GRID_SIDE, GRID_SIDE)], device, dtype)
    sparsifier = backend.get("WeightNormSparsifier")()
    config = {
        "tensor_fqn": "0.weight",
        "sparsity_level": level,
        "sparse_block_shape": block,
        "zeros_per_block": zeros,
    }
    sparsifier.prepare(model, [config])
    sparsifier.step()
    expected = min(max(level, 0.0), 1.0) * zeros / (block[0] * block[1])
    context = f"sparsity_level={level}, block {block[0]}x{block[1]}, zeros_per_block={zeros}"
    assert_zero_fraction(mask_of(model[0]), expected, "0.weight", context)


def _block_view(mask: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    rows, cols = mask.shape
    return mask.reshape(rows // block[0], block[0], cols // block[1], block[1]).transpose(1, 2).flatten(2)


@pytest.mark.parametrize("block", [(1, 4), (2, 2), (4, 1)], ids=["1x4", "2x2", "4x1"])
def test_lowest_norm_blocks_go(backend, device, dtype, block):
    level = 0.5
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=level, sparse_block_shape=block)
    model = linear_stack([(16, 16)], device, dtype)
    sparsifier.prepare(model, None)
    sparsifier.step()
    weight = original_of(model[0]).detach().double()  # exact squares of the dtype's values
    norms = _block_view(weight.square(), block).mean(-1).flatten()
    kept_blocks = _block_view(kept(mask_of(model[0])), block).any(-1).flatten()
    lowest_go = torch.ones_like(kept_blocks)
    lowest_go[norms.topk(round(level * norms.numel()), largest=False).indices] = False
    context = f"sparsity_level={level}, block {block[0]}x{block[1]}, {dtype}: the lowest-norm blocks must go first"
    assert_masks_equal_up_to_ties(kept_blocks, lowest_go, norms, "layer", "0.weight", context, precision=dtype)


TIE_SHAPE = (16, 32)
TIE_PATTERNS = {"1x1": ((1, 1), 1, 0.5), "1x4": ((1, 4), 4, 0.5), "2of4": ((1, 4), 2, 1.0)}
"""(block, zeros_per_block, sparsity_level): ties between blocks (1x1, 1x4) and inside them (2:4)."""


@pytest.mark.parametrize("pattern", sorted(TIE_PATTERNS))
def test_ties_at_the_cut(backend, device, dtype, pattern):
    """Weights of five values (0, +-1, +-2) tie at every cut: exactly the requested zeros, lowest first.

    Which of the tied blocks or elements go is open; how many, and that none scores above one kept, is not.
    """
    block, zeros, level = TIE_PATTERNS[pattern]
    weight = torch.randint(-2, 3, TIE_SHAPE, generator=torch.Generator().manual_seed(0)).to(dtype)
    model = linear_stack([TIE_SHAPE], device, dtype)
    with torch.no_grad():
        model[0].weight.copy_(weight)
    sparsifier = backend.get("WeightNormSparsifier")(
        sparsity_level=level, sparse_block_shape=block, zeros_per_block=zeros
    )
    sparsifier.prepare(model, None)
    sparsifier.step()
    norms = weight.double().square()
    blocks = norms.view(TIE_SHAPE[0], -1, block[1])  # the blocks are one row high: (rows, blocks, elements)
    chosen = torch.zeros(blocks.shape[:2], dtype=torch.bool)
    chosen.view(-1)[blocks.mean(-1).flatten().topk(round(level * chosen.numel()), largest=False).indices] = True
    lowest = torch.zeros(blocks.shape, dtype=torch.bool).scatter_(-1, blocks.topk(zeros, largest=False).indices, True)
    expected_kept = ~(chosen[..., None] & lowest).view(TIE_SHAPE)
    context = (
        f"sparsity_level={level}, block {block[0]}x{block[1]}, zeros_per_block={zeros}, {dtype}: norms tie at the cut"
    )
    assert_block_masks_equal_up_to_ties(
        mask_of(model[0]), expected_kept, norms, block, "0.weight", context, precision=dtype
    )


def test_two_of_four(backend, device, dtype):
    model = build(SimpleLinear, device, dtype)
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=1.0, sparse_block_shape=(1, 4), zeros_per_block=2)
    sparsifier.prepare(model, [{"tensor_fqn": "linear1.weight"}])
    sparsifier.step()
    mask = kept(mask_of(model.linear1))
    weight = original_of(model.linear1).detach().abs()
    for row in range(mask.shape[0]):
        for start in range(0, mask.shape[1], 4):
            block_mask, block_weight = mask[row, start : start + 4], weight[row, start : start + 4]
            assert int((~block_mask).sum()) == 2, (
                f"2:4 block at row {row}, cols {start}..{start + 3} has mask {block_mask.tolist()}"
            )
            assert block_weight[~block_mask].max() <= block_weight[block_mask].min(), (
                f"2:4 block at row {row}, cols {start}..{start + 3} zeroed |w|={block_weight[~block_mask].tolist()} "
                f"but kept {block_weight[block_mask].tolist()}: the 2 smallest must go"
            )


# Block A = [1, 1, 1, 1] and block B = [3, 0, 0, 0]: B has the lower L1 mean (0.75 < 1) but the higher
# mean square (2.25 > 1), so the norm decides which of the two blocks a level of 0.5 zeroes.
NORM_WEIGHT = [[1.0, 1.0, 1.0, 1.0, 3.0, 0.0, 0.0, 0.0]]
NORM_CASES = {
    "l1": (1, [True] * 4 + [False] * 4),
    "l2": (2, [False] * 4 + [True] * 4),
    "callable_negated_abs": (lambda t: -t.abs(), [False] * 4 + [True] * 4),
}


@pytest.mark.parametrize("norm_name", sorted(NORM_CASES))
def test_norm_choice(backend, device, dtype, norm_name):
    norm, expected_kept = NORM_CASES[norm_name]
    model = nn.Sequential(nn.Linear(8, 1, bias=False)).to(device=device, dtype=dtype)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(NORM_WEIGHT))
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=0.5, sparse_block_shape=(1, 4), norm=norm)
    sparsifier.prepare(model, None)
    sparsifier.step()
    actual = kept(mask_of(model[0]))[0].tolist()
    assert actual == expected_kept, (
        f"norm={norm_name}: kept {actual}, expected {expected_kept} for weight {NORM_WEIGHT[0]}"
    )


@pytest.mark.parametrize("block", [(1, 1), (1, 4)], ids=["1x1", "1x4"])
def test_no_collapse_over_repeated_steps(backend, device, dtype, block):
    model = build(SimpleLinear, device, dtype)
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=0.5, sparse_block_shape=block)
    sparsifier.prepare(model, [{"tensor_fqn": "linear2.weight"}])
    mask = mask_of(model.linear2)
    assert zero_fraction(mask) == 0.0, "mask has zeros before the first step"
    sparsifier.step()
    first = zero_fraction(mask)
    for _ in range(50):
        with torch.no_grad():
            original_of(model.linear2).copy_(torch.randn_like(model.linear2.weight))
        sparsifier.step()
        assert zero_fraction(mask) == pytest.approx(first), (
            f"zero fraction drifted from {first:.1%} to {zero_fraction(mask):.1%} over repeated steps on fresh weights"
        )


FORWARD_SHAPES = [(8, 16), (12, 8)]  # every side a multiple of 4: partial blocks are tested on their own


@pytest.mark.parametrize(("block", "zeros"), [((1, 4), 2), ((2, 2), 4), ((1, 1), 1)], ids=["2of4", "2x2_full", "1x1"])
def test_forward_keeps_dtype(backend, device, dtype, block, zeros):
    model = linear_stack(FORWARD_SHAPES, device, dtype)
    x = torch.randn(3, FORWARD_SHAPES[0][1], device=device, dtype=dtype)
    level = 1.0 if zeros < block[0] * block[1] else 0.5
    sparsifier = backend.get("WeightNormSparsifier")(
        sparsity_level=level, sparse_block_shape=block, zeros_per_block=zeros
    )
    sparsifier.prepare(model, None)
    sparsifier.step()
    for layer in model:
        assert layer.weight.dtype == dtype, f"masked weight has dtype {layer.weight.dtype}, expected {dtype}"
    output = model(x)
    assert output.dtype == dtype, f"masked model outputs {output.dtype} for {dtype} weights and inputs"
    expected = x
    for layer in model:
        expected = expected @ (original_of(layer) * kept(mask_of(layer)).to(dtype)).T
    assert_close(output, expected, "masked forward vs input @ (weight * mask).T")


# Shapes whose sides are not multiples of the block: edge blocks are partial.
ODD_SHAPES = [((6, 10), (1, 4), 2), ((7, 9), (2, 2), 1), ((5, 13), (1, 4), 3)]


@pytest.mark.parametrize(("shape", "block", "zeros"), ODD_SHAPES, ids=["6x10-1x4-z2", "7x9-2x2-z1", "5x13-1x4-z3"])
def test_partial_blocks_with_zeros_per_block(backend, device, dtype, shape, block, zeros):
    model = linear_stack([shape], device, dtype)
    sparsifier = backend.get("WeightNormSparsifier")(
        sparsity_level=1.0, sparse_block_shape=block, zeros_per_block=zeros
    )
    sparsifier.prepare(model, None)
    sparsifier.step()
    mask = kept(mask_of(model[0]))
    assert tuple(mask.shape) == shape, f"mask has shape {tuple(mask.shape)}, expected {shape}"
    for row0 in range(0, shape[0], block[0]):
        for col0 in range(0, shape[1], block[1]):
            cell = mask[row0 : row0 + block[0], col0 : col0 + block[1]]
            expected = min(zeros, cell.numel())
            assert int((~cell).sum()) == expected, (
                f"block at ({row0}, {col0}) of a {shape} weight has {int((~cell).sum())} zeros, expected "
                f"{expected} (zeros_per_block={zeros}, {cell.numel()} elements inside the tensor)"
            )


@pytest.mark.parametrize(("shape", "block"), [((6, 10), (1, 4)), ((7, 9), (2, 2))], ids=["6x10-1x4", "7x9-2x2"])
def test_partial_blocks_whole(backend, device, dtype, shape, block):
    model = linear_stack([shape], device, dtype)
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=0.5, sparse_block_shape=block)
    sparsifier.prepare(model, None)
    sparsifier.step()
    mask = kept(mask_of(model[0]))
    grid = (math.ceil(shape[0] / block[0]), math.ceil(shape[1] / block[1]))
    zeroed = 0
    for row0 in range(0, shape[0], block[0]):
        for col0 in range(0, shape[1], block[1]):
            cell = mask[row0 : row0 + block[0], col0 : col0 + block[1]]
            assert cell.all() or not cell.any(), f"block at ({row0}, {col0}) is partly zeroed: {cell.tolist()}"
            zeroed += int(not cell.any())
    expected = round(0.5 * grid[0] * grid[1])
    assert zeroed == expected, f"{zeroed} of {grid[0] * grid[1]} blocks zeroed at level 0.5, expected {expected}"


# One row of 14 single-element blocks: levels whose block counts are not whole numbers, so rounding
# (Python's round-half-to-even, as torch does) is visible: 0.25 -> 3.5 -> 4, 0.7 -> 9.8 -> 10, 0.3 -> 4.2 -> 4.
ROUNDING_LEVELS = [0.25, 0.3, 0.45, 0.7, 0.95]


@pytest.mark.parametrize("level", ROUNDING_LEVELS, ids=[f"level{level:g}" for level in ROUNDING_LEVELS])
def test_block_count_rounding(backend, device, dtype, level):
    blocks = 14
    model = linear_stack([(1, blocks)], device, dtype)
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=level, sparse_block_shape=(1, 1))
    sparsifier.prepare(model, None)
    sparsifier.step()
    zeroed = int((~kept(mask_of(model[0]))).sum())
    expected = min(blocks - 1, round(level * blocks))
    assert zeroed == expected, (
        f"sparsity_level={level} zeroed {zeroed} of {blocks} blocks, expected round({level} * {blocks}) = {expected}"
    )
