"""``prune()`` of every layer chain: the pruned model computes what the masked model computed, and lives on.

For each chain and ``prune_bias`` setting: prepare with a pruner that removes a non-prefix third
of the rows (LSTM: of the units, alike in all gates), step, record the masked model's outputs,
prune, and check outputs, parameter count, leftovers and declared sizes. Then the pruned model's
life (``pruned_model_checks``): its parameters keep dtype, device and grad, own compact storage,
train under a fresh optimizer; modes and layers outside the chains are kept; it round-trips through
``state_dict``, ``copy.deepcopy``, ``torch.save`` and ``torch.export``. Every test runs the dtype matrix.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .chains import CHAIN_CASES, CHAINS, LSTM_CHAINS, Chain, build_chain_model
from .checks import assert_close
from .pruned_model_checks import (
    ModelRecord,
    check_compact_storage,
    check_deepcopy,
    check_export,
    check_parameters,
    check_save_load,
    check_state_dict_round_trip,
    check_training_flags,
    check_trains,
    check_untouched,
    flat_outputs,
    record_model,
    require_torch_kernels,
    snapshot_tensors,
)
from .structured_checks import (
    kept_output_indices,
    leftovers,
    make_every_third_pruner,
    parameter_count,
    size_mismatches,
)

pytestmark = pytest.mark.requires("BaseStructuredSparsifier", "FakeStructuredSparsity")

CHAINS_ONCE = [pytest.param(chain, id=chain.id) for chain in CHAINS]
"""Every chain once, with ``prune_bias=True`` (every chain supports it): for checks that do not look at biases."""
UNTOUCHED_CASES = [case for case in CHAIN_CASES if case.values[0].untouched]
EXPORT_CHAINS = [
    pytest.param(chain, id=chain.id)
    for chain in CHAINS
    if chain.id
    in (
        "linear_activation_linear",
        "conv2d_adaptive_pool_flatten_linear",
        "conv2d_batchnorm_activation_conv2d",
        "lstm_layernorm_linear_2layer",
    )
]
"""One chain per kind of layer (linear, conv with pooling and flatten, conv with BatchNorm, LSTM with
LayerNorm): ``torch.export`` traces a model anew each time, the dearest check here."""
LIVE_MODEL_DRAWS = 5
"""Draws of a chain's weights ``test_pruned_model_trains`` tries until its masked model is not constant."""
MODES = pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])


def _assert_outputs_match(masked: list[torch.Tensor], pruned: list[torch.Tensor], kept: torch.Tensor | None) -> None:
    assert len(masked) == len(pruned), f"the pruned model returns {len(pruned)} tensors, the masked {len(masked)}"
    for index, (expected, actual) in enumerate(zip(masked, pruned, strict=True)):
        what = f"output {index}"
        if expected.shape != actual.shape:
            assert kept is not None, f"{what} changed shape {tuple(expected.shape)} -> {tuple(actual.shape)}"
            dims = [d for d in range(expected.dim()) if expected.shape[d] != actual.shape[d]]
            assert len(dims) == 1 and actual.shape[dims[0]] == len(kept), (
                f"{what} has shape {tuple(actual.shape)}; expected {tuple(expected.shape)} with only the pruned "
                f"layer's {len(kept)} kept channels left"
            )
            expected = expected.index_select(dims[0], kept.to(expected.device))
        assert_close(actual, expected, f"pruned model's {what} differs from the masked model's")


def _normalize_over_kept(norm: nn.LayerNorm, kept: torch.Tensor):
    """Forward hook: the LayerNorm's statistics over the kept units only; pruned units stay zero."""

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        index = kept.to(output.device)
        x = inputs[0].index_select(-1, index)
        normalized = F.layer_norm(x, (len(index),), norm.weight[index], norm.bias[index], norm.eps)
        return torch.zeros_like(output).index_copy(-1, index, normalized)

    return hook


@dataclass
class PrunedChain:
    """A chain's model after prepare, step and ``prune()``, with what the checks compare it against."""

    pruned: nn.Module
    example_input: torch.Tensor
    masked: list[torch.Tensor]  # the masked model's outputs
    masked_kept_statistics: list[torch.Tensor] | None  # the same, a LayerNorm's statistics over kept units
    kept: torch.Tensor | None  # output channels (LSTM: units) of ``chain.output_layer`` the masks keep
    before: ModelRecord  # the model before prepare
    untouched: dict[str, torch.Tensor]  # tensors of ``chain.untouched`` before prepare
    parameters_before: int
    width_before: int | None  # an LSTM output layer's hidden_size before prune()
    dense: nn.Module | None  # a copy of the model before prepare, when asked for


def _prune_chain(
    backend,
    device: str,
    dtype: torch.dtype,
    chain: Chain,
    prune_bias: bool,
    training: bool = False,
    dense: bool = False,
) -> PrunedChain:
    """Build the chain's model (in ``training`` mode), prepare, step, record the masked outputs, prune."""
    model = build_chain_model(chain, device, dtype).train(training)
    x = torch.randn(chain.input_shape, device=device, dtype=dtype)
    dense_copy = copy.deepcopy(model) if dense else None
    before, untouched = record_model(model), snapshot_tensors(model, chain.untouched)
    parameters_before = parameter_count(model)
    require_torch_kernels(model, x)
    pruner = make_every_third_pruner(backend)({"prune_bias": prune_bias})
    pruner.prepare(model, [dict(entry) for entry in chain.config])
    pruner.step()
    kept = kept_output_indices(model, chain.output_layer) if chain.output_layer else None
    masked_kept_statistics = None
    with torch.no_grad():
        masked = flat_outputs(model(x))
        if chain.layernorm:
            norm = model.get_submodule(chain.layernorm)
            handle = norm.register_forward_hook(_normalize_over_kept(norm, kept))
            masked_kept_statistics = flat_outputs(model(x))
            handle.remove()
    width_before = model.get_submodule(chain.output_layer).hidden_size if chain.family == "lstm" else None
    return PrunedChain(
        pruned=pruner.prune(),
        example_input=x,
        masked=masked,
        masked_kept_statistics=masked_kept_statistics,
        kept=kept,
        before=before,
        untouched=untouched,
        parameters_before=parameters_before,
        width_before=width_before,
        dense=dense_copy,
    )


def _prune_and_compare(
    backend, device: str, dtype: torch.dtype, chain: Chain, prune_bias: bool, must_shrink: bool
) -> None:
    case = _prune_chain(backend, device, dtype, chain, prune_bias)
    pruned_model = case.pruned
    with torch.no_grad():
        pruned = flat_outputs(pruned_model(case.example_input))
    masked = case.masked
    if chain.layernorm and pruned_model.get_submodule(chain.output_layer).hidden_size < case.width_before:
        masked = case.masked_kept_statistics  # the LayerNorm shrank with the LSTM: statistics over kept units
    _assert_outputs_match(masked, pruned, case.kept)
    remaining = parameter_count(pruned_model)
    if must_shrink:
        assert remaining < case.parameters_before, (
            f"prune() left {remaining} of {case.parameters_before} parameters: nothing was physically removed"
        )
    left = leftovers(pruned_model)
    assert not left, f"prune() left pruning machinery behind: {left}"
    wrong = size_mismatches(pruned_model)
    assert not wrong, f"pruned layers' declared sizes disagree with their tensors: {wrong}"


@pytest.mark.parametrize(("chain", "prune_bias"), CHAIN_CASES)
def test_pruned_equals_masked(backend, device, dtype, chain: Chain, prune_bias: bool):
    _prune_and_compare(backend, device, dtype, chain, prune_bias, must_shrink=True)


@pytest.mark.filterwarnings("ignore::UserWarning")  # a backend may warn that it keeps the biased units
@pytest.mark.parametrize("chain", LSTM_CHAINS)
def test_lstm_keep_bias(backend, device, dtype, chain: Chain):
    """With biases kept, an LSTM's pruned units stay alive; pruning must stay exact (it may not shrink)."""
    _prune_and_compare(backend, device, dtype, chain, prune_bias=False, must_shrink=False)


@pytest.mark.parametrize(("chain", "prune_bias"), CHAIN_CASES)
def test_pruned_parameters_keep_dtype_device_and_grad(backend, device, dtype, chain: Chain, prune_bias: bool):
    """Each parameter stays an ``nn.Parameter`` of the model's dtype and device that requires grad."""
    case = _prune_chain(backend, device, dtype, chain, prune_bias)
    check_parameters(case.pruned, case.before)


@pytest.mark.parametrize("chain", CHAINS_ONCE)
def test_pruned_tensors_own_compact_storage(backend, device, dtype, chain: Chain):
    """No shrunk tensor is a view keeping the dense tensor's storage alive."""
    check_compact_storage(_prune_chain(backend, device, dtype, chain, True).pruned)


@pytest.mark.parametrize(("chain", "prune_bias"), UNTOUCHED_CASES)
def test_layers_outside_the_chain_are_untouched(backend, device, dtype, chain: Chain, prune_bias: bool):
    case = _prune_chain(backend, device, dtype, chain, prune_bias)
    check_untouched(case.pruned, case.untouched)


@MODES
@pytest.mark.parametrize("chain", CHAINS_ONCE)
def test_prune_keeps_training_flags(backend, device, dtype, chain: Chain, training: bool):
    """``prune()`` leaves every module in the mode it was in, train or eval."""
    case = _prune_chain(backend, device, dtype, chain, True, training=training)
    check_training_flags(case.pruned, case.before)


@pytest.mark.parametrize("chain", CHAINS_ONCE)
def test_pruned_model_trains(backend, device, dtype, chain: Chain, _prunebench_seed: int):
    """A fresh SGD optimizer on the pruned model's parameters lowers the loss (in train mode: fine-tuning).

    A draw of weights whose masked model outputs a constant (every ReLU dead) has nothing to train:
    the model is drawn again, from the same seeded stream.
    """
    for _ in range(LIVE_MODEL_DRAWS):
        case = _prune_chain(backend, device, dtype, chain, True, training=True)
        if not all(_constant(output) for output in case.masked):
            break
    check_trains(case.pruned, case.example_input, seed=_prunebench_seed)


def _constant(output: torch.Tensor) -> bool:
    return bool((output == output.flatten()[0]).all()) if output.numel() else True


@pytest.mark.parametrize("chain", CHAINS_ONCE)
def test_pruned_model_round_trips(backend, device, dtype, chain: Chain):
    """``state_dict`` into a copy of itself, ``copy.deepcopy`` and ``torch.save``: each computes the same."""
    case = _prune_chain(backend, device, dtype, chain, True)
    with torch.no_grad():
        expected = case.pruned(case.example_input)
    check_state_dict_round_trip(case.pruned, case.example_input, expected)
    check_deepcopy(case.pruned, case.example_input, expected)
    check_save_load(case.pruned, case.example_input, expected)


@pytest.mark.filterwarnings("ignore:The tensor attributes .*_flat_weights")  # torch.export of any nn.LSTM warns
@pytest.mark.parametrize("chain", EXPORT_CHAINS)
def test_pruned_model_exports(backend, device, dtype, chain: Chain):
    case = _prune_chain(backend, device, dtype, chain, True, dense=True)
    with torch.no_grad():
        expected = case.pruned(case.example_input)
    check_export(case.pruned, case.example_input, expected, dense=case.dense)
