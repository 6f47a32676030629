"""The reference implementation's errors: each names the bad value, and nothing is left half-done."""

from __future__ import annotations

import math

import pytest
import torch
from prunebench.suites.models import SimpleLinear
from torch import nn
from torch.nn.utils import parametrize

from prunebench import reference_impl as ref


class RowZero(ref.BaseSparsifier):
    def update_mask(self, module, tensor_name, **kwargs):
        module.parametrizations[tensor_name][0].mask[0] = False


def _parametrized(model: nn.Module) -> list[str]:
    return [fqn for fqn, module in model.named_modules() if parametrize.is_parametrized(module)]


@pytest.mark.parametrize(
    ("config", "error", "names"),
    [
        pytest.param([{"tensor_fqn": "linear9.weight"}], ValueError, "'linear9.weight'", id="missing_module"),
        pytest.param([{"tensor_fqn": "linear1.bias"}], ValueError, "'linear1.bias'", id="missing_tensor"),
        pytest.param([{"sparsity_level": 0.5}], ValueError, "config[1]", id="no_tensor_fqn"),
        pytest.param(["linear1.weight"], TypeError, "'linear1.weight'", id="entry_not_dict"),
        pytest.param({"tensor_fqn": "linear1.weight"}, TypeError, "list of dicts", id="config_is_dict"),
        pytest.param([{"tensor_fqn": 3}], TypeError, "got 3", id="fqn_not_str"),
        pytest.param(
            [{"tensor_fqn": "linear1.weight"}, {"tensor_fqn": "linear1.weight"}],
            ValueError,
            "config[1]",
            id="duplicate",
        ),
        pytest.param(
            [{"tensor_fqn": "linear1.weight", "module_fqn": "linear2"}], ValueError, "'linear2'", id="disagreeing_fqn"
        ),
    ],
)
def test_bad_config_named_and_model_untouched(config, error, names):
    model = SimpleLinear()
    # The bad entry comes after a good one, so a half-applied prepare would show.
    full = [{"tensor_fqn": "seq.0.weight"}, *config] if isinstance(config, list) else config
    with pytest.raises(error) as raised:
        RowZero().prepare(model, full)
    assert names in str(raised.value), str(raised.value)
    assert _parametrized(model) == [], f"a rejected config left parametrizations on {_parametrized(model)}"


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"zeros_per_block": -1}, ValueError, "zeros_per_block=-1"),
        ({"zeros_per_block": 5}, ValueError, "zeros_per_block=5 is outside [0, 4]"),
        ({"sparse_block_shape": (0, 4)}, ValueError, "(0, 4)"),
        ({"sparse_block_shape": (1, -4)}, ValueError, "(1, -4)"),
        ({"sparsity_level": math.nan}, ValueError, "nan"),
        ({"sparsity_level": "half"}, TypeError, "'half'"),
        ({"norm": 3}, NotImplementedError, "norm=3"),
    ],
)
def test_weight_norm_constructor_errors(kwargs, error, names):
    with pytest.raises(error) as raised:
        ref.WeightNormSparsifier(**kwargs)
    assert names in str(raised.value), str(raised.value)


def test_per_tensor_override_is_validated_at_prepare():
    model = SimpleLinear()
    with pytest.raises(ValueError, match="zeros_per_block=9"):
        ref.WeightNormSparsifier().prepare(model, [{"tensor_fqn": "linear1.weight", "zeros_per_block": 9}])
    assert _parametrized(model) == []


def test_level_outside_unit_interval_is_clamped_with_warning():
    with pytest.warns(UserWarning, match=r"sparsity_level=1.5 is outside \[0, 1\]; clamped"):
        ref.WeightNormSparsifier(sparsity_level=1.5)


def test_nearly_diagonal_type_error_at_prepare():
    model = nn.Sequential(nn.Linear(8, 8))
    with pytest.raises(TypeError, match=r"1\.0"):
        ref.NearlyDiagonalSparsifier(nearliness=1).prepare(model, [{"tensor_fqn": "0.weight", "nearliness": 1.0}])
    assert _parametrized(model) == []


@pytest.mark.parametrize("nearliness", [2, 17])
def test_nearly_diagonal_value_errors_at_step(nearliness):
    """As torch: an even or too wide nearliness passes the constructor and prepare, and step raises
    ValueError naming it; the mask is left as it was."""
    model = nn.Sequential(nn.Linear(8, 8))
    sparsifier = ref.NearlyDiagonalSparsifier(nearliness=nearliness)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight", "nearliness": nearliness}])
    before = sparsifier.state["0.weight"]["mask"].clone()
    with pytest.raises(ValueError, match=str(nearliness)):
        sparsifier.step()
    assert torch.equal(sparsifier.state["0.weight"]["mask"], before)


def test_load_state_dict_from_another_model_names_shapes():
    source = nn.Sequential(nn.Linear(4, 8))
    sparsifier = ref.WeightNormSparsifier()
    sparsifier.prepare(source, None)
    target = nn.Sequential(nn.Linear(6, 8))
    other = ref.WeightNormSparsifier()
    other.prepare(target, None)
    with pytest.raises(ValueError, match=r"shape \(8, 4\).*\(8, 6\).*another model"):
        other.load_state_dict(sparsifier.state_dict())


def test_load_state_dict_before_prepare():
    with pytest.raises(RuntimeError, match="call prepare"):
        ref.WeightNormSparsifier().load_state_dict({"state": {}, "groups": []})


def test_squash_mask_missing_param_names_it():
    model = SimpleLinear()
    sparsifier = RowZero(defaults={"foo": 1})
    sparsifier.prepare(model, [{"tensor_fqn": "linear1.weight"}])
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        sparsifier.squash_mask(params_to_keep=("nope",))


def test_masked_inf_weight_becomes_exact_zero():
    layer = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[math.inf, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]))
    model = nn.Sequential(layer)
    sparsifier = RowZero()
    sparsifier.prepare(model, None)
    sparsifier.step()
    assert torch.equal(model[0].weight[0], torch.zeros(4)), "a masked inf must become 0, not nan"


@pytest.mark.parametrize("weight_dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_row_mask_zeroes_masked_rows_exactly_whatever_they_hold(weight_dtype):
    """A row mask gives ``where``'s result in every dtype: a masked inf or NaN is 0, a kept one stays."""
    mask = torch.tensor([True, False, True, False])
    parametrization = ref.FakeStructuredSparsity(mask)
    weight = torch.randn(4, 3).to(weight_dtype)
    assert torch.equal(parametrization(weight), torch.where(mask[:, None], weight, torch.zeros((), dtype=weight_dtype)))
    weight[1, 0], weight[3, 2], weight[2, 1] = math.inf, math.nan, math.nan
    masked = parametrization(weight)
    assert masked.dtype == weight_dtype
    assert torch.equal(masked[1], torch.zeros(3, dtype=weight_dtype)) and torch.equal(
        masked[3], torch.zeros(3, dtype=weight_dtype)
    )
    assert torch.isnan(masked[2, 1]) and torch.equal(masked[0], weight[0])
    leaf = weight.float().nan_to_num().requires_grad_()
    parametrization(leaf).sum().backward()
    assert torch.equal(leaf.grad, mask[:, None].float().expand(4, 3))


def test_row_mask_traces_under_torch_jit_and_export():
    """A row mask traces: a value-dependent shortcut in its forward would be baked into a jit trace."""
    model = nn.Sequential(nn.Linear(3, 4))
    parametrize.register_parametrization(
        model[0], "weight", ref.FakeStructuredSparsity(torch.tensor([1, 0, 1, 1]).bool())
    )
    x = torch.randn(2, 3)
    traced = torch.jit.trace(model, (x,), check_trace=False)
    with torch.no_grad():
        model[0].parametrizations.weight.original[1, 0] = math.inf  # a masked row: where gives 0, a multiply NaN
    torch.testing.assert_close(traced(x), model(x))  # the trace recorded where, not a multiply
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))


def test_baking_a_row_mask_for_some_rows_zeroes_only_the_masked_ones_among_them():
    """``prune()`` bakes a producer's row mask only in the rows it keeps; the rows it drops stay untouched."""
    layer = nn.Linear(3, 4, bias=False)
    weight = torch.arange(12.0).reshape(4, 3) + 1
    with torch.no_grad():
        layer.weight.copy_(weight)
    parametrize.register_parametrization(layer, "weight", ref.FakeStructuredSparsity(torch.tensor([1, 0, 0, 1]).bool()))
    from prunebench.reference_impl.fake_sparsity import bake_mask

    bake_mask(layer, "weight", rows_needed=torch.tensor([True, True, False, False]))
    assert not parametrize.is_parametrized(layer)
    assert torch.equal(layer.weight[1], torch.zeros(3)), "a masked row that stays must be zeroed"
    assert torch.equal(layer.weight[2], weight[2]), "a masked row about to be dropped need not be touched"
    assert torch.equal(layer.weight[[0, 3]], weight[[0, 3]])


@pytest.mark.parametrize(
    ("parametrization", "rows", "message"),
    [
        pytest.param(
            lambda: ref.FakeStructuredSparsity(torch.ones(4, dtype=torch.bool)), 3, "shape", id="wrong_length"
        ),
        pytest.param(lambda: ref.FakeSparsity(torch.ones(4, 3)), 4, "FakeSparsity", id="not_a_row_mask"),
    ],
)
def test_bake_mask_rows_needed_names_what_is_wrong(parametrization, rows, message):
    from prunebench.reference_impl.fake_sparsity import bake_mask

    layer = nn.Linear(3, 4, bias=False)
    parametrize.register_parametrization(layer, "weight", parametrization())
    with pytest.raises(ValueError, match=message):
        bake_mask(layer, "weight", rows_needed=torch.ones(rows, dtype=torch.bool))


def test_weight_norm_masks_keep_identity_across_steps():
    model = nn.Sequential(nn.Linear(8, 8))
    sparsifier = ref.WeightNormSparsifier(sparse_block_shape=(1, 1))
    sparsifier.prepare(model, None)
    mask = sparsifier.state["0.weight"]["mask"]
    sparsifier.step()
    assert mask is model[0].parametrizations.weight[0].mask, "step replaced the mask object instead of updating it"
    assert mask.dtype == model[0].weight.dtype and int((mask == 0).sum()) == 32
