"""``WandaSparsifier`` (an extra name): activation-aware scores, per-row levels, 2:4, calibration lifecycle.

The contract is the paper's (Sun et al., arXiv:2306.11695): weight ``W[i, j]`` of a Linear layer scores
``|W[i, j]| * ||X[:, j]||_2`` over every input row seen while calibrating (forward passes between
``prepare`` and ``step``), and each output row loses its own ``sparsity_level`` share of weights.
``semi_structured_block_size=4`` zeroes the 2 lowest scores of every aligned 1x4 block of a row.
Inputs below are exact small numbers, so every case has one right mask in every dtype.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from .checks import kept, mask_of, must_raise, original_of
from .models import DEEP_NESTED_LAYERS, DeepNested, build
from .structured_checks import leftovers

pytestmark = pytest.mark.requires("WandaSparsifier")

TWO_OF_FOUR = 4  # semi_structured_block_size of 2:4 sparsity


def _linear(weight: torch.Tensor | list[list[float]], device: str, dtype: torch.dtype) -> nn.Sequential:
    """``Sequential(Linear)`` without bias whose weight is ``weight`` (rows = outputs, columns = inputs)."""
    weight = torch.as_tensor(weight, dtype=torch.float32)
    model = nn.Sequential(nn.Linear(weight.shape[1], weight.shape[0], bias=False))
    with torch.no_grad():
        model[0].weight.copy_(weight)
    return model.to(device=device, dtype=dtype)


def _calibrated_mask(sparsifier_class: type, model: nn.Module, batches: list, **kwargs) -> torch.Tensor:
    """Prepare ``model[0]``, run each calibration batch through the model, step; the kept-mask as bool."""
    sparsifier = sparsifier_class(**kwargs)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}])
    parameter = original_of(model[0])
    with torch.no_grad():
        for batch in batches:
            model(torch.as_tensor(batch, dtype=torch.float32).to(device=parameter.device, dtype=parameter.dtype))
    sparsifier.step()
    return kept(mask_of(model[0])).cpu()


# Column 0 carries activations 100x larger than the others but the smallest weights: magnitude pruning
# would drop it from both rows, Wanda keeps it. Scores: row 0 [20, 1, 2, 3], row 1 [30, 3, 1, 2] (x sqrt 2).
LOUD_COLUMN_WEIGHT = [[0.2, 1.0, 2.0, 3.0], [0.3, 3.0, 1.0, 2.0]]
LOUD_COLUMN_INPUT = [[100.0, 1.0, 1.0, 1.0], [-100.0, 1.0, -1.0, 1.0]]
LOUD_COLUMN_KEPT = [[True, False, False, True], [True, True, False, False]]


def test_calibration_outranks_magnitude(backend, device, dtype):
    model = _linear(LOUD_COLUMN_WEIGHT, device, dtype)
    actual = _calibrated_mask(backend.get("WandaSparsifier"), model, [LOUD_COLUMN_INPUT], sparsity_level=0.5)
    assert actual[:, 0].all(), (
        f"column 0 (activations 100x the others, weights the smallest) was zeroed: mask {actual.tolist()}; "
        "the mask ignores the calibration activations, as pure magnitude pruning would"
    )
    assert actual.tolist() == LOUD_COLUMN_KEPT, (
        f"kept {actual.tolist()}, expected {LOUD_COLUMN_KEPT} for |W| * ||X||_2 at sparsity_level=0.5"
    )


ROW_SCALES = [1e-2, 1e-1, 1.0, 10.0]  # rows this far apart would lose whole rows under one layer-wide ranking
ROW_LEVELS = [0.25, 0.5, 0.75]  # times 8 columns: whole numbers, so no rounding rule is involved


@pytest.mark.parametrize("level", ROW_LEVELS, ids=[f"level{level:g}" for level in ROW_LEVELS])
def test_sparsity_level_per_row(backend, device, dtype, level):
    columns = 8
    weight = torch.randn(len(ROW_SCALES), columns) * torch.tensor(ROW_SCALES)[:, None]
    actual = _calibrated_mask(
        backend.get("WandaSparsifier"), _linear(weight, device, dtype), [torch.randn(16, columns)], sparsity_level=level
    )
    zeros = (~actual).sum(dim=1).tolist()
    expected = int(level * columns)
    assert zeros == [expected] * len(ROW_SCALES), (
        f"zeros per output row {zeros} for rows scaled {ROW_SCALES}, expected {expected} in every row "
        f"(sparsity_level={level}, {columns} columns): Wanda compares weights within each output row"
    )


def test_score_uses_the_activation_norm_not_its_square(backend, device, dtype):
    # Column norms ||X|| = [2, 1]: |W| * ||X|| = [2, 3] drops column 0; |W| * ||X||^2 = [4, 3] would drop column 1.
    actual = _calibrated_mask(
        backend.get("WandaSparsifier"), _linear([[1.0, 3.0]], device, dtype), [[[2.0, 1.0]]], sparsity_level=0.5
    )
    assert actual.tolist() == [[False, True]], (
        f"kept {actual.tolist()[0]}, expected [False, True]: scores |W| * ||X||_2 = [2, 3] drop column 0 "
        "(keeping column 0 means the score squares the activation norm: [4, 3])"
    )


# Equal weights, so the column with the smallest total norm goes. Squared norms: pass A [1, 25, 4.84, 6.25],
# pass B [25, 1, 4.84, 2.25], sum [26, 26, 9.68, 8.5] -> column 3. Pass A alone would drop column 0, pass B
# alone column 1, the larger of the two passes column 2. Pass B is 3-D: leading dims are all samples.
PASS_A = [[1.0, 5.0, 2.2, 2.5]]
PASS_B = [[[5.0, 1.0, 2.2, 1.5]]]


def test_calibration_accumulates_over_passes_and_leading_dims(backend, device, dtype):
    model = _linear(torch.ones(1, 4), device, dtype)
    actual = _calibrated_mask(backend.get("WandaSparsifier"), model, [PASS_A, PASS_B], sparsity_level=0.25)
    assert actual.tolist() == [[True, True, True, False]], (
        f"kept {actual.tolist()[0]}, expected column 3 zeroed (smallest norm over both passes); zeroing column "
        "0 / 1 / 2 means only the first pass / only the last pass / the larger pass per column was counted"
    )


def test_two_of_four(backend, device, dtype):
    rows, columns = 4, 16
    weight = (torch.rand(rows, columns) + 0.5) * torch.randn(rows, columns).sign()
    loud = torch.rand(columns) < 0.5
    column_scale = torch.where(loud, 100.0, 1.0)  # equal norms within a class, so both norm powers agree
    calibration = torch.ones(2, columns) * column_scale
    actual = _calibrated_mask(
        backend.get("WandaSparsifier"),
        _linear(weight, device, dtype),
        [calibration],
        semi_structured_block_size=TWO_OF_FOUR,
    )
    scores = weight.to(dtype).float().abs() * column_scale
    for row in range(rows):
        for start in range(0, columns, TWO_OF_FOUR):
            block = slice(start, start + TWO_OF_FOUR)
            expected = torch.ones(TWO_OF_FOUR, dtype=torch.bool)
            expected[scores[row, block].topk(2, largest=False).indices] = False
            assert actual[row, block].tolist() == expected.tolist(), (
                f"2:4 block at row {row}, cols {start}..{start + 3} kept {actual[row, block].tolist()}, expected "
                f"{expected.tolist()} for scores {[round(s, 3) for s in scores[row, block].tolist()]}"
            )


def test_step_without_calibration_raises(backend, device, dtype):
    model = _linear(torch.randn(3, 5), device, dtype)
    sparsifier = backend.get("WandaSparsifier")(sparsity_level=0.5)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}])
    with must_raise(RuntimeError, "step() before any calibration forward pass did not raise a RuntimeError"):
        sparsifier.step()


@pytest.mark.parametrize("explicit", [False, True], ids=["config_none", "explicit_config"])
def test_squash_mask_removes_the_recorders(backend, device, dtype, explicit):
    model = build(DeepNested, device, dtype)
    modules_before = {fqn: type(module) for fqn, module in model.named_modules()}
    sparsifier = backend.get("WandaSparsifier")(sparsity_level=0.5)
    config = [{"tensor_fqn": f"{fqn}.weight"} for fqn in DEEP_NESTED_LAYERS] if explicit else None
    sparsifier.prepare(model, config)
    x = torch.randn(5, DeepNested.in_features, device=device, dtype=dtype)
    with torch.no_grad():
        model(x)
    sparsifier.step()
    masks = {fqn: kept(mask_of(model.get_submodule(fqn))).clone() for fqn in DEEP_NESTED_LAYERS}
    sparsifier.squash_mask()
    left = leftovers(model)
    assert not left, f"squash_mask left calibration or mask machinery behind: {left}"
    modules_after = {fqn: type(module) for fqn, module in model.named_modules()}
    extra = sorted(set(modules_after) - set(modules_before))
    assert modules_after == modules_before, f"squash_mask left modules the user did not have: {extra}"
    for fqn, mask in masks.items():
        weight = model.get_submodule(fqn).weight
        assert weight.dtype == dtype, f"{fqn}.weight has dtype {weight.dtype} after squash_mask, expected {dtype}"
        assert not weight[~mask].any(), f"{fqn}.weight lost its zeros in squash_mask"
