"""``prune()`` of every layer chain: the pruned model computes what the masked model computed.

For each chain and ``prune_bias`` setting: prepare with a pruner that removes a non-prefix third
of the rows (LSTM: of the units, alike in all gates), step, record the masked model's outputs,
prune, and check outputs, parameter count, leftovers and declared sizes, in every dtype of the
matrix. What the pruned model must still be able to do afterwards is ``test_structured_pruned_model``.
"""

from __future__ import annotations

import pytest
import torch

from .chains import CHAIN_CASES, LSTM_CHAINS, Chain
from .checks import assert_close
from .pruned_model_checks import flat_outputs
from .structured_checks import leftovers, parameter_count, prune_chain, size_mismatches

pytestmark = pytest.mark.requires("BaseStructuredSparsifier", "FakeStructuredSparsity")


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


def _prune_and_compare(
    backend, device: str, dtype: torch.dtype, chain: Chain, prune_bias: bool, must_shrink: bool
) -> None:
    case = prune_chain(backend, device, dtype, chain, prune_bias)
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
