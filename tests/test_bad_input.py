"""Bad input to the reference implementation is an error naming the value; legal edge cases work.

Extends ``test_reference_errors.py`` (config shape, unknown fqns, zeros_per_block, nearliness at
prepare, ...) with the rest of issue #6. The behaviour asserted for legal edge cases (empty config,
1x1 layers, half precision, NaN/inf weights, the meta device) is the one documented in
``results/robustness.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from prunebench.reference_impl.structured.bias import bias_hooks
from torch import nn
from torch.nn.utils import parametrize

from prunebench import reference_impl as ref

Factory = Callable[[], ref.BaseSparsifier]

SPARSIFIERS: dict[str, Factory] = {
    "weight_norm": lambda: ref.WeightNormSparsifier(sparsity_level=0.5, sparse_block_shape=(1, 2)),
    "weight_norm_2of4": lambda: ref.WeightNormSparsifier(1.0, (1, 4), zeros_per_block=2),
    "nearly_diagonal": lambda: ref.NearlyDiagonalSparsifier(nearliness=1),
    "saliency": lambda: ref.SaliencyPruner({"sparsity_level": 0.5}),
    "fpgm": lambda: ref.FPGMPruner(sparsity_level=0.5),
}
STRUCTURED = {"saliency", "fpgm"}


class RowZero(ref.BaseSparsifier):
    def update_mask(self, module, tensor_name, **kwargs):
        module.parametrizations[tensor_name][0].mask[0] = False


class Exploding(nn.Module):
    """A parametrization whose registration fails, as a broken user parametrization would."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("exploding parametrization")


def leftovers(model: nn.Module) -> list[str]:
    """Everything a prepare leaves on a model: parametrizations, bias hooks, moved-aside biases."""
    found = []
    for fqn, module in model.named_modules():
        if parametrize.is_parametrized(module):
            found.append(f"{fqn or '<root>'}: parametrizations {list(module.parametrizations)}")
        if bias_hooks(module) or "_bias" in module._parameters:
            found.append(f"{fqn or '<root>'}: bias handling")
    return found


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))


def shared_module() -> nn.Sequential:
    layer = nn.Linear(4, 4)
    return nn.Sequential(layer, layer)


def tied_weight() -> nn.Sequential:
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    return nn.Sequential(first, second)


def with_batchnorm() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))


def with_2d_buffer() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].register_buffer("table", torch.ones(4, 4))
    return model


def int_second_layer() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].weight = nn.Parameter(torch.ones(4, 4, dtype=torch.int32), requires_grad=False)
    return model


def complex_second_layer() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].weight = nn.Parameter(torch.ones(4, 4, dtype=torch.complex64))
    return model


# -- constructors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "names"),
    [
        pytest.param(ref.WeightNormSparsifier, {"sparsity_level": True}, TypeError, "True", id="wn_level_bool"),
        pytest.param(ref.WeightNormSparsifier, {"sparsity_level": None}, TypeError, "None", id="wn_level_none"),
        pytest.param(ref.WeightNormSparsifier, {"sparse_block_shape": (1,)}, ValueError, "(1,)", id="wn_block_1"),
        pytest.param(
            ref.WeightNormSparsifier, {"sparse_block_shape": (1, 2, 3)}, ValueError, "(1, 2, 3)", id="wn_block_3"
        ),
        pytest.param(
            ref.WeightNormSparsifier, {"sparse_block_shape": (1.5, 4)}, TypeError, "(1.5, 4)", id="wn_block_float"
        ),
        pytest.param(
            ref.WeightNormSparsifier, {"sparse_block_shape": (True, 4)}, TypeError, "(True, 4)", id="wn_block_bool"
        ),
        pytest.param(ref.WeightNormSparsifier, {"sparse_block_shape": 4}, TypeError, "int 4", id="wn_block_int"),
        pytest.param(
            ref.WeightNormSparsifier, {"sparse_block_shape": (-1, -4)}, ValueError, "(-1, -4)", id="wn_block_neg"
        ),
        pytest.param(ref.WeightNormSparsifier, {"zeros_per_block": 1.5}, TypeError, "1.5", id="wn_zeros_float"),
        pytest.param(ref.WeightNormSparsifier, {"zeros_per_block": True}, TypeError, "True", id="wn_zeros_bool"),
        pytest.param(ref.WeightNormSparsifier, {"norm": "l2"}, TypeError, "'l2'", id="wn_norm_str"),
        pytest.param(ref.WeightNormSparsifier, {"norm": True}, TypeError, "True", id="wn_norm_bool"),
        pytest.param(ref.WeightNormSparsifier, {"norm": 3}, ValueError, "norm=3", id="wn_norm_3_is_value_error"),
        pytest.param(ref.NearlyDiagonalSparsifier, {"nearliness": True}, TypeError, "True", id="nd_bool"),
        pytest.param(ref.NearlyDiagonalSparsifier, {"nearliness": "3"}, TypeError, "'3'", id="nd_str"),
        pytest.param(ref.FPGMPruner, {"sparsity_level": math.nan}, ValueError, "nan", id="fpgm_level_nan"),
        pytest.param(ref.FPGMPruner, {"sparsity_level": "x"}, TypeError, "'x'", id="fpgm_level_str"),
        pytest.param(ref.FPGMPruner, {"dist": 3}, ValueError, "dist=3", id="fpgm_dist_3"),
        pytest.param(ref.FPGMPruner, {"dist": True}, TypeError, "True", id="fpgm_dist_bool"),
        pytest.param(ref.FPGMPruner, {"dist": "l2"}, TypeError, "'l2'", id="fpgm_dist_str"),
        pytest.param(RowZero, {"defaults": [("sparsity_level", 0.5)]}, TypeError, "list", id="base_defaults_list"),
    ],
)
def test_constructor_error_names_value(factory, kwargs, error, names):
    with pytest.raises(error) as raised:
        factory(**kwargs)
    assert names in str(raised.value), str(raised.value)


@pytest.mark.parametrize("option", [{"norm": 3}, {"dist": 7}])
def test_unsupported_option_is_also_not_implemented(option):
    """torch raises NotImplementedError for an unknown norm/dist; ours is that and a ValueError."""
    factory = ref.WeightNormSparsifier if "norm" in option else ref.FPGMPruner
    with pytest.raises(NotImplementedError):
        factory(**option)


# -- prepare: rejected configs leave nothing behind ------------------------------------------------


def _entries(*entries: str | dict) -> list[dict]:
    """A config whose string entries mean ``{"tensor_fqn": entry}``."""
    return [{"tensor_fqn": entry} if isinstance(entry, str) else entry for entry in entries]


@pytest.mark.parametrize(
    ("sparsifier", "model", "config", "error", "names"),
    [
        pytest.param("weight_norm", with_batchnorm, ["0.weight", "1.running_mean"], ValueError, "buffer", id="buffer"),
        pytest.param("weight_norm", with_2d_buffer, ["0.weight", "1.table"], ValueError, "'1.table'", id="buffer_2d"),
        pytest.param("weight_norm", shared_module, ["0.weight", "1.weight"], ValueError, "'1.weight'", id="shared"),
        pytest.param("weight_norm", tied_weight, ["0.weight", "1.weight"], ValueError, "tied", id="tied_weight"),
        pytest.param("weight_norm", int_second_layer, ["0.weight", "1.weight"], TypeError, "torch.int32", id="int_wn"),
        pytest.param("nearly_diagonal", int_second_layer, ["0.weight", "1.weight"], TypeError, "int32", id="int_nd"),
        pytest.param("saliency", int_second_layer, ["0.weight", "1.weight"], TypeError, "int32", id="int_saliency"),
        pytest.param("weight_norm", complex_second_layer, ["0.weight", "1.weight"], TypeError, "complex64", id="cplx"),
        pytest.param(
            "weight_norm",
            with_2d_buffer,
            ["0.weight", {"tensor_fqn": "1.weight", "mask": torch.ones(2, 2)}],
            ValueError,
            "(2, 2)",
            id="mask_shape",
        ),
        pytest.param(
            "weight_norm",
            with_2d_buffer,
            [{"tensor_fqn": "0.weight", "mask": [[1]]}],
            TypeError,
            "list",
            id="mask_list",
        ),
        pytest.param(
            "weight_norm", with_2d_buffer, ["0.weight", {"tensor_fqn": "1.weight", 1: 2}], TypeError, "[1]", id="key"
        ),
        pytest.param("saliency", mlp, ["0.weight", "1.weight"], ValueError, "'1.weight'", id="structured_relu"),
        pytest.param(
            "saliency",
            mlp,
            ["0.weight", {"tensor_fqn": "2.weight", "sparsity_level": 1.5}],
            ValueError,
            "1.5",
            id="lvl",
        ),
        pytest.param(
            "saliency", mlp, ["0.weight", {"tensor_fqn": "2.weight", "sparsity_level": "x"}], TypeError, "'x'", id="str"
        ),
        pytest.param(
            "saliency", mlp, ["0.weight", {"tensor_fqn": "2.weight", "prune_bias": "yes"}], TypeError, "'yes'", id="pb"
        ),
        pytest.param(
            "fpgm",
            mlp,
            ["0.weight", {"tensor_fqn": "2.weight", "sparsity_level": math.nan}],
            ValueError,
            "nan",
            id="fp",
        ),
        pytest.param(
            "saliency",
            mlp,
            ["0.weight", {"tensor_fqn": "2.weight", "mask": torch.ones(3)}],
            ValueError,
            "(3,)",
            id="rm",
        ),
    ],
)
def test_rejected_config_names_value_and_leaves_model_untouched(sparsifier, model, config, error, names):
    model = model()
    with pytest.raises(error) as raised:
        SPARSIFIERS[sparsifier]().prepare(model, _entries(*config))
    assert names in str(raised.value), str(raised.value)
    assert leftovers(model) == [], f"a rejected config left {leftovers(model)}"


def test_config_bytes_is_not_a_list():
    with pytest.raises(TypeError, match="bytes"):
        RowZero().prepare(mlp(), b"0.weight")


@pytest.mark.parametrize("sparsifier", ["weight_norm", "saliency"])
def test_failed_registration_rolls_back(sparsifier):
    """Validation cannot foresee a parametrization that fails: what was attached before it is removed."""
    model = mlp()
    bias = model[0].bias
    sparsifier = SPARSIFIERS[sparsifier]()
    config = [{"tensor_fqn": "0.weight"}, {"tensor_fqn": "2.weight", "parametrization": Exploding}]
    with pytest.raises(RuntimeError, match="exploding"):
        sparsifier.prepare(model, config)
    assert leftovers(model) == [], f"a failed prepare left {leftovers(model)}"
    assert model[0].bias is bias, "the bias Parameter was replaced instead of put back"
    assert sparsifier.groups == [] and dict(sparsifier.state) == {} and sparsifier.model is None


def test_roll_back_keeps_an_earlier_prepare():
    model = mlp()
    first = ref.WeightNormSparsifier()
    first.prepare(model, [{"tensor_fqn": "0.weight"}])
    with pytest.raises(RuntimeError, match="exploding"):
        RowZero().prepare(model, [{"tensor_fqn": "2.weight"}, {"tensor_fqn": "0.weight", "parametrization": Exploding}])
    assert len(model[0].parametrizations.weight) == 1, "the earlier sparsifier's mask was removed"
    assert not parametrize.is_parametrized(model[2])


def test_prune_before_prepare():
    with pytest.raises(RuntimeError, match=r"call prepare\(model, config\) first"):
        ref.SaliencyPruner({"sparsity_level": 0.5}).prune()


def test_config_none_configures_a_tied_weight_once():
    model = tied_weight()
    sparsifier = ref.WeightNormSparsifier()
    sparsifier.prepare(model, None)
    assert [group["tensor_fqn"] for group in sparsifier.groups] == ["0.weight"]


# -- load_state_dict: another model's state is named, and nothing is half-loaded -------------------


def _prepared(model: nn.Module, sparsifier: str = "weight_norm", step: bool = True) -> ref.BaseSparsifier:
    instance = SPARSIFIERS[sparsifier]()
    instance.prepare(model, None)
    if step:
        instance.step()
    return instance


def two_layers(out_features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 4), nn.Linear(4, out_features))


def _masks(sparsifier: ref.BaseSparsifier) -> dict[str, torch.Tensor]:
    return {fqn: entry["mask"].clone() for fqn, entry in sparsifier.state.items()}


@pytest.mark.parametrize(
    ("source", "target", "sparsifier", "names"),
    [
        pytest.param(
            lambda: nn.Sequential(*(nn.Linear(4, 4) for _ in range(3))),
            lambda: nn.Sequential(nn.Linear(4, 4)),
            "weight_norm",
            "['1.weight', '2.weight']",
            id="missing_layers",
        ),
        pytest.param(
            lambda: two_layers(8),
            lambda: two_layers(6),
            "weight_norm",
            "'1.weight' has saved mask shape (8, 4), the model's is (6, 4)",
            id="shape",
        ),
        pytest.param(
            lambda: two_layers(8),
            lambda: two_layers(6),
            "saliency",
            "'1.weight' has saved mask shape (8,), the model's is (6,)",
            id="row_mask_shape",
        ),
    ],
)
def test_state_from_another_model_is_named_and_not_half_loaded(source, target, sparsifier, names):
    saved = _prepared(source(), sparsifier).state_dict()
    loader = _prepared(target(), sparsifier)
    masks, groups = _masks(loader), [dict(group) for group in loader.groups]
    with pytest.raises(ValueError, match="another model") as raised:
        loader.load_state_dict(saved)
    assert names in str(raised.value), str(raised.value)
    assert all(torch.equal(loader.state[fqn]["mask"], mask) for fqn, mask in masks.items()), "masks changed"
    assert loader.groups == groups, "groups changed by a failed load"


def test_strict_false_skips_missing_tensors():
    saved = _prepared(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))).state_dict()
    loader = _prepared(nn.Sequential(nn.Linear(4, 4)))
    loader.load_state_dict(saved, strict=False)
    assert [group["tensor_fqn"] for group in loader.groups] == ["0.weight"]


WN_GROUP = {"tensor_fqn": "0.weight", "sparsity_level": 0.5, "sparse_block_shape": (1, 4), "zeros_per_block": 4}


@pytest.mark.parametrize(
    ("state_dict", "error", "names"),
    [
        pytest.param([1], TypeError, "list", id="not_a_dict"),
        pytest.param({"state": {}, "groups": [1]}, TypeError, "['groups'][0]", id="group_not_dict"),
        pytest.param({"state": [], "groups": []}, TypeError, "state_dict['state']", id="state_not_dict"),
        pytest.param({"state": {}, "groups": "0.weight"}, TypeError, "str", id="groups_str"),
        pytest.param({"state": {"0.weight": {"mask": "x"}}, "groups": [WN_GROUP]}, TypeError, "mask", id="mask_str"),
        pytest.param({"state": {}, "groups": [{"tensor_fqn": "0.weight"}]}, ValueError, "has no setting", id="bare"),
        pytest.param(
            {"state": {}, "groups": [{**WN_GROUP, "zeros_per_block": 99}]}, ValueError, "zeros_per_block=99", id="zpb"
        ),
        pytest.param(
            {"state": {}, "groups": [{**WN_GROUP, "tensor_fqn": "0.bias"}]}, ValueError, "'0.bias'", id="bias"
        ),
    ],
)
def test_malformed_state_dict_names_the_part(state_dict, error, names):
    loader = _prepared(nn.Sequential(nn.Linear(4, 4)))
    masks = _masks(loader)
    with pytest.raises(error) as raised:
        loader.load_state_dict(state_dict)
    assert names in str(raised.value), str(raised.value)
    assert all(torch.equal(loader.state[fqn]["mask"], mask) for fqn, mask in masks.items()), "masks changed"


# -- legal edge cases ------------------------------------------------------------------------------


def _lifecycle(name: str, model: nn.Module, config: list | None = None) -> ref.BaseSparsifier:
    sparsifier = SPARSIFIERS[name]()
    sparsifier.prepare(model, config)
    sparsifier.step()
    return sparsifier


def _expected_mask_dtype(sparsifier: ref.BaseSparsifier, weight: torch.Tensor) -> torch.dtype:
    """torch's contract: row masks are bool, element-wise masks have the weight's dtype."""
    return torch.bool if isinstance(sparsifier, ref.BaseStructuredSparsifier) else weight.dtype


def _check_masked_forward(sparsifier: ref.BaseSparsifier, model: nn.Module, dtype: torch.dtype) -> None:
    """Masks have the contract's dtype and shape, hold 0 and 1, and the masked forward runs in the model's dtype."""
    structured = isinstance(sparsifier, ref.BaseStructuredSparsifier)
    for group in sparsifier.groups:
        module, tensor_name = group["module"], group["tensor_name"]
        mask = sparsifier.state[group["tensor_fqn"]]["mask"]
        original = module.parametrizations[tensor_name].original
        expected_shape = original.shape[:1] if structured else original.shape
        expected_dtype = _expected_mask_dtype(sparsifier, original)
        assert mask.dtype == expected_dtype and mask.shape == expected_shape, f"mask {mask.dtype} {tuple(mask.shape)}"
        assert bool(((mask == 0) | (mask == 1)).all()), f"mask of {group['tensor_fqn']} holds values other than 0 and 1"
        keep = mask.reshape(-1, *[1] * (original.dim() - 1)) if structured else mask != 0
        masked = torch.where(keep, original, torch.zeros((), dtype=dtype))
        assert torch.equal(getattr(module, tensor_name), masked), f"{group['tensor_fqn']} is not the masked weight"
    first = next(module for module in model.modules() if isinstance(module, nn.Linear))
    output = model(torch.randn(2, first.in_features, dtype=dtype))
    assert output.dtype == dtype, f"forward gave {output.dtype} for {dtype} weights"


@pytest.mark.parametrize("name", SPARSIFIERS)
def test_empty_config_is_a_no_op(name):
    model = mlp()
    weights = [p.clone() for p in model.parameters()]
    sparsifier = _lifecycle(name, model, [])
    assert sparsifier.state_dict() == {"state": {}, "groups": []}
    if name in STRUCTURED:
        pruned = sparsifier.prune()
        assert [tuple(p.shape) for p in pruned.parameters()] == [tuple(w.shape) for w in weights]
    sparsifier.squash_mask()
    assert leftovers(model) == []
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights, strict=True))


@pytest.mark.parametrize("weight_dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", SPARSIFIERS)
def test_one_by_one_layers(name, weight_dtype):
    model = nn.Sequential(nn.Linear(1, 1), nn.Linear(1, 1)).to(weight_dtype)
    sparsifier = _lifecycle(name, model)
    _check_masked_forward(sparsifier, model, weight_dtype)
    if name in STRUCTURED:
        assert sparsifier.prune()(torch.ones(2, 1, dtype=weight_dtype)).dtype == weight_dtype


@pytest.mark.parametrize("weight_dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", SPARSIFIERS)
def test_half_precision(name, weight_dtype):
    model = nn.Sequential(nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 3)).to(weight_dtype)
    sparsifier = _lifecycle(name, model)
    _check_masked_forward(sparsifier, model, weight_dtype)
    sparsifier.squash_mask()
    assert {p.dtype for p in model.parameters()} == {weight_dtype}


@pytest.mark.parametrize("name", SPARSIFIERS)
def test_meta_device(name):
    """prepare, forward and squash_mask run on meta; step (and prune) need values: a named ValueError."""
    model = mlp().to("meta")
    sparsifier = SPARSIFIERS[name]()
    sparsifier.prepare(model, None)
    groups = [
        (group["module"].parametrizations.weight.original, sparsifier.state[group["tensor_fqn"]]["mask"])
        for group in sparsifier.groups
    ]
    assert groups and all(
        mask.is_meta and mask.dtype == _expected_mask_dtype(sparsifier, weight) for weight, mask in groups
    )
    assert model(torch.empty(2, 4, device="meta")).shape == (2, 4)
    with pytest.raises(ValueError, match=r"step\(\) computes masks from weight values, but \['0.weight'"):
        sparsifier.step()
    if name in STRUCTURED:
        with pytest.raises(ValueError, match="meta device"):
            sparsifier.prune()
    sparsifier.squash_mask()
    assert leftovers(model) == []


def _rows(*values: float, width: int = 4) -> nn.Sequential:
    """A bias-free Linear whose row ``i`` is ``values[i]`` repeated."""
    layer = nn.Linear(width, len(values), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(values)[:, None].expand(-1, width))
    return nn.Sequential(layer)


NON_FINITE_ROWS = (math.nan, 1.0, math.inf, 2.0, -math.inf, 3.0)
"""Row values for the NaN/inf policy: finite rows rank first, then +-inf (norm inf), then NaN."""


@pytest.mark.parametrize(
    ("factory", "level", "masked_rows"),
    [
        pytest.param(lambda level: ref.WeightNormSparsifier(level, (1, 4)), 0.5, {1, 3, 5}, id="wn_finite_first"),
        pytest.param(lambda level: ref.WeightNormSparsifier(level, (1, 4)), 5 / 6, {1, 2, 3, 4, 5}, id="wn_inf_next"),
        pytest.param(lambda level: ref.SaliencyPruner({"sparsity_level": level}), 0.5, {1, 3, 5}, id="saliency"),
        pytest.param(lambda level: ref.SaliencyPruner({"sparsity_level": level}), 5 / 6, {1, 2, 3, 4, 5}, id="sal_inf"),
        pytest.param(lambda level: ref.FPGMPruner(level), 1 / 6, {3}, id="fpgm_median_of_finite"),
        pytest.param(lambda level: ref.FPGMPruner(level), 0.5, {1, 3, 5}, id="fpgm_finite_first"),
    ],
)
def test_nan_and_inf_weights_are_pruned_last(factory, level, masked_rows):
    model = _rows(*NON_FINITE_ROWS)
    sparsifier = factory(level)
    sparsifier.prepare(model, None)
    sparsifier.step()
    mask = sparsifier.state["0.weight"]["mask"]
    rows_kept = mask if mask.dim() == 1 else mask.all(dim=1)
    assert {i for i, kept in enumerate(rows_kept.tolist()) if not kept} == masked_rows
    weight = model[0].weight
    assert not weight[sorted(masked_rows)].ne(0).any(), "a masked NaN/inf weight must become an exact 0"
    first = mask.clone()
    masked_weight = weight.detach().clone()
    sparsifier.step()
    if isinstance(sparsifier, ref.FPGMPruner):
        # FPGM scores the masked weight (a pruned filter counts as a zero filter, as in torch), so a second
        # step is a fresh selection on the masked rows, not a repeat of the first.
        fresh = factory(level)
        rescored = _rows(*masked_weight[:, 0].tolist())
        fresh.prepare(rescored, None)
        fresh.step()
        assert torch.equal(mask, fresh.state["0.weight"]["mask"]), "the second step ignored the masked weight"
    else:
        assert torch.equal(mask, first), "the same weights gave another mask on the next step"


def test_inf_weight_in_partial_block_is_zeroed_before_padding():
    model = nn.Sequential(nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[math.inf, math.inf, 1.0]]))
    sparsifier = ref.WeightNormSparsifier(1.0, (1, 4), zeros_per_block=2)
    sparsifier.prepare(model, None)
    sparsifier.step()
    zeros = int((sparsifier.state["0.weight"]["mask"] == 0).sum())
    assert zeros == 2, f"{zeros} zeros in a 3-element edge block with zeros_per_block=2"


def test_nearly_diagonal_ignores_values():
    model = _rows(math.nan, math.inf, 1.0, 2.0)
    sparsifier = ref.NearlyDiagonalSparsifier(1)
    sparsifier.prepare(model, None)
    sparsifier.step()
    assert torch.equal(sparsifier.state["0.weight"]["mask"], torch.eye(4, dtype=torch.bool))


@pytest.mark.parametrize("nearliness", [0, -3])
def test_nearliness_zero_or_negative_masks_everything(nearliness):
    sparsifier = ref.NearlyDiagonalSparsifier(nearliness)
    model = nn.Sequential(nn.Linear(3, 3))
    sparsifier.prepare(model, None)
    sparsifier.step()
    assert not sparsifier.state["0.weight"]["mask"].any()
