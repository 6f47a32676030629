"""``NearlyDiagonalSparsifier``: exact bands for every legal nearliness, ValueError for the rest."""

from __future__ import annotations

import pytest
import torch

from .checks import kept, mask_of, must_raise, original_of
from .models import linear_stack

pytestmark = pytest.mark.requires("NearlyDiagonalSparsifier")

SHAPES = [(8, 8), (6, 10), (10, 6)]
LEGAL = [
    (shape, nearliness)
    for shape in SHAPES
    for nearliness in range(-1, 2 * min(shape), 1)
    if nearliness <= 0 or nearliness % 2
]
ILLEGAL = [((8, 8), 2), ((8, 8), 4), ((6, 10), 13), ((8, 8), 17), ((10, 6), 99)]


def _band(shape: tuple[int, int], nearliness: int) -> torch.Tensor:
    if nearliness <= 0:
        return torch.zeros(shape, dtype=torch.bool)
    rows, cols = torch.meshgrid(torch.arange(shape[0]), torch.arange(shape[1]), indexing="ij")
    return (rows - cols).abs() <= nearliness // 2


@pytest.mark.parametrize(("shape", "nearliness"), LEGAL, ids=[f"{s[0]}x{s[1]}-n{n}" for s, n in LEGAL])
def test_band_is_exact(backend, device, dtype, shape, nearliness):
    model = linear_stack([shape], device, dtype)
    sparsifier = backend.get("NearlyDiagonalSparsifier")()
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight", "nearliness": nearliness}])
    sparsifier.step()
    actual = kept(mask_of(model[0])).cpu()
    expected = _band(shape, nearliness)
    wrong = (actual != expected).nonzero().tolist()
    assert not wrong, (
        f"nearliness={nearliness} on a {shape} weight: mask wrong at {len(wrong)} positions, first (row, col) "
        f"{wrong[:5]}; expected ones exactly where |row - col| <= {nearliness // 2}"
    )
    sparsifier.squash_mask()
    weight = model[0].weight.detach().cpu()
    assert int(torch.count_nonzero(weight[~expected])) == 0, "squashed weight has nonzeros off the band"


@pytest.mark.parametrize(("shape", "nearliness"), ILLEGAL, ids=[f"{s[0]}x{s[1]}-n{n}" for s, n in ILLEGAL])
def test_illegal_nearliness_raises(backend, device, dtype, shape, nearliness):
    model = linear_stack([shape], device, dtype)
    symptom = f"accepted nearliness={nearliness} for a {shape} weight; expected ValueError (even, or too wide)"
    with must_raise(ValueError, symptom):
        sparsifier = backend.get("NearlyDiagonalSparsifier")()
        sparsifier.prepare(model, [{"tensor_fqn": "0.weight", "nearliness": nearliness}])
        sparsifier.step()


def test_band_ignores_weight_values(backend, device, dtype):
    model = linear_stack([(8, 8)], device, dtype)
    sparsifier = backend.get("NearlyDiagonalSparsifier")(nearliness=3)
    sparsifier.prepare(model, None)
    for _ in range(20):
        with torch.no_grad():
            original_of(model[0]).copy_(torch.randn(8, 8))
        sparsifier.step()
        actual = kept(mask_of(model[0])).cpu()
        assert torch.equal(actual, _band((8, 8), 3)), "the band changed with the weight values"
