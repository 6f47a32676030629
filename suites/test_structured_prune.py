"""``prune()`` of every layer chain: the pruned model computes what the masked model computed.

For each chain and ``prune_bias`` setting: prepare with a pruner that removes a non-prefix third
of the rows (LSTM: of the units, alike in all gates), step, record the masked model's outputs,
prune, and check outputs, parameter count, leftovers and declared sizes.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .chains import CHAIN_CASES, LSTM_CHAINS, Chain, build_chain_model
from .structured_checks import (
    kept_output_indices,
    leftovers,
    make_every_third_pruner,
    parameter_count,
    size_mismatches,
)

pytestmark = pytest.mark.requires("BaseStructuredSparsifier", "FakeStructuredSparsity")
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def _flatten(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    return [tensor for item in output for tensor in _flatten(item)]


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
        torch.testing.assert_close(
            actual,
            expected,
            **TOLERANCE,
            msg=lambda m, w=what: f"pruned model's {w} differs from the masked model's: {m}",
        )


def _normalize_over_kept(norm: nn.LayerNorm, kept: torch.Tensor):
    """Forward hook: the LayerNorm's statistics over the kept units only; pruned units stay zero."""

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        index = kept.to(output.device)
        x = inputs[0].index_select(-1, index)
        normalized = F.layer_norm(x, (len(index),), norm.weight[index], norm.bias[index], norm.eps)
        return torch.zeros_like(output).index_copy(-1, index, normalized)

    return hook


def _prune_and_compare(backend, device: str, chain: Chain, prune_bias: bool, must_shrink: bool) -> None:
    model = build_chain_model(chain, device)
    x = torch.randn(chain.input_shape, device=device)
    original_parameters = parameter_count(model)
    pruner = make_every_third_pruner(backend)({"prune_bias": prune_bias})
    pruner.prepare(model, [dict(entry) for entry in chain.config])
    pruner.step()
    kept = kept_output_indices(model, chain.output_layer) if chain.output_layer else None
    with torch.no_grad():
        masked = _flatten(model(x))
        if chain.layernorm:
            norm = model.get_submodule(chain.layernorm)
            handle = norm.register_forward_hook(_normalize_over_kept(norm, kept))
            masked_kept_statistics = _flatten(model(x))
            handle.remove()
    width_before = model.get_submodule(chain.output_layer).hidden_size if chain.family == "lstm" else None
    pruned_model = pruner.prune()
    with torch.no_grad():
        pruned = _flatten(pruned_model(x))
    if chain.layernorm and pruned_model.get_submodule(chain.output_layer).hidden_size < width_before:
        masked = masked_kept_statistics  # the LayerNorm shrank with the LSTM: statistics over kept units
    _assert_outputs_match(masked, pruned, kept)
    remaining = parameter_count(pruned_model)
    if must_shrink:
        assert remaining < original_parameters, (
            f"prune() left {remaining} of {original_parameters} parameters: nothing was physically removed"
        )
    left = leftovers(pruned_model)
    assert not left, f"prune() left pruning machinery behind: {left}"
    wrong = size_mismatches(pruned_model)
    assert not wrong, f"pruned layers' declared sizes disagree with their tensors: {wrong}"


@pytest.mark.parametrize(("chain", "prune_bias"), CHAIN_CASES)
def test_pruned_equals_masked(backend, device, chain: Chain, prune_bias: bool):
    _prune_and_compare(backend, device, chain, prune_bias, must_shrink=True)


@pytest.mark.filterwarnings("ignore::UserWarning")  # a backend may warn that it keeps the biased units
@pytest.mark.parametrize("chain", LSTM_CHAINS)
def test_lstm_keep_bias(backend, device, chain: Chain):
    """With biases kept, an LSTM's pruned units stay alive; pruning must stay exact (it may not shrink)."""
    _prune_and_compare(backend, device, chain, prune_bias=False, must_shrink=False)
