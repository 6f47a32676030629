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
from .structured_checks import check_pruned_chain, prune_chain

pytestmark = pytest.mark.requires("BaseStructuredSparsifier", "FakeStructuredSparsity")


def _prune_and_compare(
    backend, device: str, dtype: torch.dtype, chain: Chain, prune_bias: bool, must_shrink: bool
) -> None:
    check_pruned_chain(prune_chain(backend, device, dtype, chain, prune_bias), chain, must_shrink)


@pytest.mark.parametrize(("chain", "prune_bias"), CHAIN_CASES)
def test_pruned_equals_masked(backend, device, dtype, chain: Chain, prune_bias: bool):
    _prune_and_compare(backend, device, dtype, chain, prune_bias, must_shrink=True)


@pytest.mark.filterwarnings("ignore::UserWarning")  # a backend may warn that it keeps the biased units
@pytest.mark.parametrize("chain", LSTM_CHAINS)
def test_lstm_keep_bias(backend, device, dtype, chain: Chain):
    """With biases kept, an LSTM's pruned units stay alive; pruning must stay exact (it may not shrink)."""
    _prune_and_compare(backend, device, dtype, chain, prune_bias=False, must_shrink=False)
