"""``prune()`` of every layer chain: the pruned model computes what the masked model computed.

For each chain and ``prune_bias`` setting: prepare with a pruner that removes a non-prefix third
of the rows (LSTM: of the units, alike in all gates), step, record the masked model's outputs,
prune, and check outputs, parameter count, leftovers and declared sizes.
"""

from __future__ import annotations

import pytest
import torch

from .chains import CHAIN_PARAMS, Chain, build_chain_model
from .structured_checks import (
    kept_output_indices,
    leftovers,
    make_every_third_pruner,
    parameter_count,
    size_mismatches,
)

pytestmark = pytest.mark.requires("BaseStructuredSparsifier", "FakeStructuredSparsity")
PRUNE_BIAS = [pytest.param(True, id="prune_bias"), pytest.param(False, id="keep_bias")]
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


@pytest.mark.parametrize("prune_bias", PRUNE_BIAS)
@pytest.mark.parametrize("chain", CHAIN_PARAMS)
def test_pruned_equals_masked(backend, device, chain: Chain, prune_bias: bool):
    model = build_chain_model(chain, device)
    x = torch.randn(chain.input_shape, device=device)
    original_parameters = parameter_count(model)
    pruner = make_every_third_pruner(backend)({"prune_bias": prune_bias})
    pruner.prepare(model, [dict(entry) for entry in chain.config])
    pruner.step()
    with torch.no_grad():
        masked = _flatten(model(x))
    kept = kept_output_indices(model, chain.output_layer) if chain.output_layer else None
    pruned_model = pruner.prune()
    with torch.no_grad():
        pruned = _flatten(pruned_model(x))
    _assert_outputs_match(masked, pruned, kept)
    remaining = parameter_count(pruned_model)
    assert remaining < original_parameters, (
        f"prune() left {remaining} of {original_parameters} parameters: nothing was physically removed"
    )
    left = leftovers(pruned_model)
    assert not left, f"prune() left pruning machinery behind: {left}"
    wrong = size_mismatches(pruned_model)
    assert not wrong, f"pruned layers' declared sizes disagree with their tensors: {wrong}"
