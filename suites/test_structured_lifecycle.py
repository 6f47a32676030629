"""Structured pruners before ``prune()``: constructor, prepare and step on the linear and conv families."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from . import structured_models as zoo
from .checks import kept, mask_of, must_raise
from .pruned_model_checks import require_torch_kernels
from .structured_checks import make_row_one_pruner

pytestmark = pytest.mark.requires("BaseStructuredSparsifier", "FakeStructuredSparsity")

LINEAR_MODELS = [zoo.SimpleLinear, zoo.LinearBias, zoo.LinearActivation, zoo.LinearActivationFunctional]
CONV_MODELS = [
    (zoo.SimpleConv2d, (1, 52, 20, 20)),
    (zoo.Conv2dBias, (1, 52, 18, 18)),
    (zoo.Conv2dActivation, (1, 52, 18, 18)),
    (zoo.Conv2dPadBias, (1, 52, 24, 24)),
    (zoo.Conv2dPool, (1, 52, 3, 3)),
]
FAMILY = [pytest.param(m, (128, 7), (128, 10), id=m.__name__) for m in LINEAR_MODELS] + [
    pytest.param(m, zoo.IMAGE, shape, id=m.__name__) for m, shape in CONV_MODELS
]
PRUNABLE = (nn.Linear, nn.Conv2d, nn.LSTM)


def test_base_structured_sparsifier_is_abstract(backend):
    base = backend.get("BaseStructuredSparsifier")
    with must_raise(TypeError, "BaseStructuredSparsifier can be instantiated: update_mask must be abstract"):
        base({})
    # a constructor that always raises TypeError passes the check above: a subclass must still construct
    concrete = type("RowPruner", (base,), {"update_mask": lambda self, module, tensor_name, **kwargs: None})
    assert isinstance(concrete({}), base)


@pytest.mark.parametrize(
    "model_class",
    [zoo.SimpleLinear, zoo.SimpleConv2d, zoo.Conv2dBatchNormActivation, zoo.LSTMLinear],
    ids=lambda cls: cls.__name__,
)
def test_config_none_finds_every_prunable_layer(backend, device, dtype, model_class):
    model = model_class().to(device=device, dtype=dtype)
    expected = sorted(fqn for fqn, module in model.named_modules() if type(module) in PRUNABLE)
    pruner = make_row_one_pruner(backend)({"test": 3})
    pruner.prepare(model, None)
    found = sorted({group["module_fqn"] for group in pruner.groups})  # an LSTM has a group per weight
    assert found == expected, f"config=None pruned {found}, expected every Linear/Conv2d/LSTM: {expected}"
    assert all(group["test"] == 3 for group in pruner.groups), "constructor default test=3 missing from groups"


def test_explicit_config_limits_the_groups(backend, device, dtype):
    pruner = make_row_one_pruner(backend)({"test": 3})
    pruner.prepare(zoo.SimpleLinear().to(device=device, dtype=dtype), [{"tensor_fqn": "seq.0.weight"}])
    assert [g["module_fqn"] for g in pruner.groups] == ["seq.0"], f"groups: {[g['module_fqn'] for g in pruner.groups]}"


@pytest.mark.parametrize(("model_class", "input_shape", "output_shape"), FAMILY)
def test_prepare_attaches_bool_row_masks(backend, device, dtype, model_class, input_shape, output_shape):
    model = model_class().to(device=device, dtype=dtype)
    x = torch.ones(input_shape, device=device, dtype=dtype)
    require_torch_kernels(model, x)
    fake = backend.get("FakeStructuredSparsity")
    pruner = make_row_one_pruner(backend)({})
    pruner.prepare(model, None)
    assert pruner.groups, f"prepare(config=None) found no prunable layer in {model_class.__name__}"
    for group in pruner.groups:
        module, fqn = group["module"], group["tensor_fqn"]
        assert fqn in pruner.state, f"no state entry for {fqn!r} after prepare"
        assert parametrize.is_parametrized(module, "weight"), f"{fqn} carries no parametrization"
        parametrization = module.parametrizations.weight[0]
        assert type(parametrization) is fake, f"{fqn} is parametrized by {type(parametrization).__name__}"
        mask = mask_of(module)
        assert mask.dtype == torch.bool, f"mask of {fqn} has dtype {mask.dtype}, expected torch.bool"
        assert tuple(mask.shape) == (module.weight.shape[0],), f"mask of {fqn} has shape {tuple(mask.shape)}"
        assert mask.device.type == torch.device(device).type, f"mask of {fqn} is on {mask.device}, not {device}"
        assert bool(mask.all()), f"mask of {fqn} prunes rows before any step"
    output = model(x)
    assert tuple(output.shape) == output_shape, f"forward after prepare gives {tuple(output.shape)}, not {output_shape}"
    assert output.dtype == dtype, f"forward after prepare gives a {output.dtype} output for a {dtype} model"


@pytest.mark.parametrize(("model_class", "input_shape", "output_shape"), FAMILY)
def test_step_updates_masks_in_place(backend, device, dtype, model_class, input_shape, output_shape):
    model = model_class().to(device=device, dtype=dtype)
    x = torch.ones(input_shape, device=device, dtype=dtype)
    require_torch_kernels(model, x)
    pruner = make_row_one_pruner(backend)({})
    pruner.prepare(model, None)
    pruner.step()
    assert pruner.groups, f"prepare(config=None) found no prunable layer in {model_class.__name__}"
    for group in pruner.groups:
        mask = kept(mask_of(group["module"]))
        assert mask.sum().item() == mask.numel() - 1 and not mask[1], (
            f"after a step pruning row 1, mask of {group['tensor_fqn']} keeps {mask.tolist()}"
        )
        assert mask_of(group["module"]) is pruner.state[group["tensor_fqn"]]["mask"] or torch.equal(
            kept(pruner.state[group["tensor_fqn"]]["mask"]), mask
        ), f"state mask of {group['tensor_fqn']} disagrees with the parametrization's"
    output = model(x)
    assert tuple(output.shape) == output_shape, f"forward after step gives {tuple(output.shape)}, not {output_shape}"


@pytest.mark.parametrize("prune_bias", [True, False], ids=["prune_bias", "keep_bias"])
def test_masked_bias_follows_prune_bias(backend, device, dtype, prune_bias):
    model = nn.Sequential(nn.Linear(4, 6)).to(device=device, dtype=dtype)
    with torch.no_grad():
        model[0].bias.fill_(1.0)
    pruner = make_row_one_pruner(backend)({"prune_bias": prune_bias})
    pruner.prepare(model, None)
    pruner.step()
    output = model(torch.zeros(2, 4, device=device, dtype=dtype))
    expected = 0.0 if prune_bias else 1.0
    assert torch.all(output[:, 1] == expected), (
        f"with prune_bias={prune_bias}, a pruned row outputs {output[:, 1].tolist()} for zero input, "
        f"expected its bias {'zeroed' if prune_bias else 'kept'} ({expected})"
    )
    assert torch.all(output[:, 0] == 1.0), f"an unpruned row outputs {output[:, 0].tolist()}, expected its bias 1.0"
