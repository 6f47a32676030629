"""``convert``: sparsified layers are swapped through ``from_dense``; all others keep their exact type."""

from __future__ import annotations

import pytest
from torch import nn

from .checks import must_raise
from .models import SimpleLinear, build

pytestmark = pytest.mark.requires("BaseSparsifier")


class MarkedSparseLinear(nn.Linear):
    """Stands in for a sparse kernel: a Linear of its own type, built from a dense one."""

    @classmethod
    def from_dense(cls, dense: nn.Linear) -> MarkedSparseLinear:
        swapped = cls(dense.in_features, dense.out_features, bias=dense.bias is not None)
        swapped.converted_from = type(dense).__name__
        return swapped


def _types(model: nn.Module) -> dict[str, type]:
    return {fqn: type(model.get_submodule(fqn)) for fqn in ("seq.0", "seq.1", "seq.2", "linear1", "linear2")}


@pytest.mark.parametrize("inplace", [False, True], ids=["copy", "inplace"])
def test_convert_swaps_only_sparsified(backend, device, dtype, row_zero_sparsifier, inplace):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier(test=3)
    sparsifier.prepare(model, [{"tensor_fqn": "linear1.weight"}])
    converted = sparsifier.convert(model, mapping={nn.Linear: MarkedSparseLinear}, inplace=inplace)
    types = _types(converted)
    assert types["linear1"] is MarkedSparseLinear, f"sparsified linear1 became {types['linear1'].__name__}"
    others = {fqn: t.__name__ for fqn, t in types.items() if fqn != "linear1" and t is not nn.Linear}
    assert not others, f"convert swapped layers that were never sparsified: {others}"
    swapped_device = next(converted.linear1.parameters()).device.type
    assert swapped_device == device, f"the swapped linear1 is on {swapped_device}, expected {device}"
    original = type(model.linear1)
    if inplace:
        assert converted is model, "convert(inplace=True) returned a new model"
    else:
        assert original is not MarkedSparseLinear, "convert(inplace=False) modified the original model"


def test_convert_without_mapping_raises(backend, device, dtype, row_zero_sparsifier):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier()
    sparsifier.prepare(model, [{"tensor_fqn": "linear1.weight"}])
    with must_raise(
        NotImplementedError, "convert(mapping=None) did not raise NotImplementedError (no default mapping)"
    ):
        sparsifier.convert(model, mapping=None)
