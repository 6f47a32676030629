"""``squash_mask``: masks are baked into the weights, parametrizations go, ``sparse_params`` stay."""

from __future__ import annotations

import pytest
import torch

from .checks import kept, mask_of, parametrized_modules
from .models import SimpleLinear, build

pytestmark = pytest.mark.requires("BaseSparsifier")
TWO_LAYERS = [{"tensor_fqn": "linear1.weight"}, {"tensor_fqn": "seq.0.weight"}]


@pytest.mark.parametrize(
    ("keep", "per_layer", "expected"),
    [
        pytest.param(None, None, {"linear1": None, "seq.0": None}, id="nothing_kept"),
        pytest.param(
            None,
            {"linear1": ("foo", "bar"), "seq.0": ("baz",)},
            {"linear1": {"foo": 3, "bar": 2}, "seq.0": {"baz": 1}},
            id="per_layer",
        ),
        pytest.param(
            ("foo", "bar"),
            None,
            {"linear1": {"foo": 3, "bar": 2}, "seq.0": {"foo": 3, "bar": 2}},
            id="global",
        ),
        pytest.param(
            ("foo", "bar"),
            {"seq.0": ("baz",)},
            {"linear1": {"foo": 3, "bar": 2}, "seq.0": {"foo": 3, "bar": 2, "baz": 1}},
            id="global_and_per_layer",
        ),
    ],
)
def test_sparse_params(backend, device, dtype, row_zero_sparsifier, keep, per_layer, expected):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier(foo=3, bar=2, baz=1)
    sparsifier.prepare(model, TWO_LAYERS)
    sparsifier.squash_mask(params_to_keep=keep, params_to_keep_per_layer=per_layer)
    assert parametrized_modules(model) == [], f"parametrizations left after squash_mask: {parametrized_modules(model)}"
    for fqn, params in expected.items():
        actual = getattr(model.get_submodule(fqn), "sparse_params", None)
        assert actual == params, f"{fqn}.sparse_params is {actual}, expected {params}"


def test_squashed_weights_keep_their_zeros(backend, device, dtype, row_zero_sparsifier):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier()
    sparsifier.prepare(model, TWO_LAYERS)
    sparsifier.step()
    masks = {fqn: kept(mask_of(model.get_submodule(fqn))).clone() for fqn in ("linear1", "seq.0")}
    masked = {fqn: model.get_submodule(fqn).weight.detach().clone() for fqn in masks}
    sparsifier.squash_mask()
    for fqn, mask in masks.items():
        weight = model.get_submodule(fqn).weight
        assert isinstance(weight, torch.nn.Parameter), f"{fqn}.weight is no longer a Parameter after squash_mask"
        assert weight.dtype == dtype, f"squashed {fqn}.weight has dtype {weight.dtype}, expected {dtype}"
        lost = int(torch.count_nonzero(weight.detach()[~mask]))
        assert lost == 0, f"squashed {fqn}.weight has {lost} nonzero entries where the mask had zeros"
        torch.testing.assert_close(weight.detach(), masked[fqn], msg=lambda m, f=fqn: f"squashed {f}.weight: {m}")
        state_keys = sorted(model.get_submodule(fqn).state_dict())
        assert state_keys == ["weight"], f"{fqn}'s state_dict after squash has keys {state_keys}, expected ['weight']"


@pytest.mark.parametrize("kind", ["weight_norm", "nearly_diagonal"])
def test_squash_after_builtin_sparsifier(backend, device, dtype, kind):
    class_name, kwargs = {
        "weight_norm": ("WeightNormSparsifier", {"sparsity_level": 0.5, "sparse_block_shape": (1, 1)}),
        "nearly_diagonal": ("NearlyDiagonalSparsifier", {"nearliness": 1}),
    }[kind]
    model = build(SimpleLinear, device, dtype)
    sparsifier = backend.get(class_name)(**kwargs)
    sparsifier.prepare(model, config=None)
    sparsifier.step()
    masks = {g["module_fqn"]: kept(mask_of(g["module"])).clone() for g in sparsifier.groups}
    sparsifier.squash_mask()
    for fqn, mask in masks.items():
        module = model.get_submodule(fqn)
        assert not hasattr(module, "mask"), f"{fqn} has a 'mask' attribute after squash_mask"
        weight = module.weight.detach()
        assert torch.equal(weight != 0, mask & (weight != 0)), f"squashed {fqn}.weight has nonzeros outside its mask"
        assert int(torch.count_nonzero(weight[~mask])) == 0, f"squashed {fqn}.weight lost its zeros"
