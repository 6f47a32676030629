"""Differential: for deterministic sparsifiers the backend's masks equal the reference's.

Shapes, levels and block shapes are drawn by hypothesis (derandomized, so runs are reproducible);
the weights come from a seeded generator, so ties between block norms do not occur in practice.
"""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import reference_impl

from .checks import assert_masks_equal, mask_of, reading_reference_masks

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
BLOCKS = [(1, 1), (1, 2), (1, 4), (4, 1), (2, 2), (3, 3), (2, 4)]


def _masks(sparsifier_class: type, kwargs: dict, weight: torch.Tensor) -> torch.Tensor:
    model = nn.Sequential(nn.Linear(weight.shape[1], weight.shape[0], bias=False))
    with torch.no_grad():
        model[0].weight.copy_(weight)
    sparsifier = sparsifier_class(**kwargs)
    sparsifier.prepare(model, None)
    sparsifier.step()
    return mask_of(model[0])


@st.composite
def weight_norm_cases(draw: st.DrawFn) -> tuple[tuple[int, int], dict, int]:
    """Shapes, level and block; partial-block zeros only where the shape is a multiple of the block.

    (Partial blocks with 0 < zeros_per_block < block size are checked by test_weight_norm on their own.)
    """
    block = draw(st.sampled_from(BLOCKS))
    rows = draw(st.integers(1, 24))
    cols = draw(st.integers(1, 24))
    size = block[0] * block[1]
    divisible = rows % block[0] == 0 and cols % block[1] == 0
    zeros = draw(st.integers(0, size)) if divisible else size
    level = draw(st.sampled_from([0.0, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    return (
        (rows, cols),
        {"sparsity_level": level, "sparse_block_shape": block, "zeros_per_block": zeros},
        seed,
    )


@pytest.mark.requires("WeightNormSparsifier")
@EXAMPLES
@given(case=weight_norm_cases())
def test_weight_norm_masks_match_reference(backend, device, case):
    shape, kwargs, seed = case
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device)
    actual = _masks(backend.get("WeightNormSparsifier"), kwargs, weight.clone())
    with reading_reference_masks():
        expected = _masks(reference_impl.WeightNormSparsifier, kwargs, copy.deepcopy(weight))
    assert_masks_equal(actual, expected, "0.weight", f"shape {shape}, {kwargs}, weight seed {seed}")


@pytest.mark.requires("NearlyDiagonalSparsifier")
@EXAMPLES
@given(rows=st.integers(1, 30), cols=st.integers(1, 30), half_width=st.integers(0, 14))
def test_nearly_diagonal_masks_match_reference(backend, device, rows, cols, half_width):
    nearliness = 2 * min(half_width, min(rows, cols) - 1) + 1
    weight = torch.randn(rows, cols, device=device)
    kwargs = {"nearliness": nearliness}
    actual = _masks(backend.get("NearlyDiagonalSparsifier"), kwargs, weight)
    with reading_reference_masks():
        expected = _masks(reference_impl.NearlyDiagonalSparsifier, kwargs, weight)
    assert_masks_equal(actual, expected, "0.weight", f"shape {(rows, cols)}, nearliness {nearliness}")
