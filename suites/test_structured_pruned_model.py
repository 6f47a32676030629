"""The pruned model's life after ``prune()``, on every layer chain and in every dtype of the matrix.

Its parameters stay ``nn.Parameter``s of the model's dtype and device that require grad and own
compact storage; every module keeps its train/eval mode; layers outside every pruned chain stay
bit-identical; a fresh optimizer trains it; it round-trips through ``copy.deepcopy``, ``state_dict``,
``torch.save`` and ``torch.export``. The checks are the plain functions of ``pruned_model_checks``.
"""

from __future__ import annotations

import pytest
import torch

from .chains import CHAIN_CASES, CHAINS, EXPORTED, REPRESENTATIVE, Chain
from .pruned_model_checks import (
    check_compact_storage,
    check_deepcopy,
    check_export,
    check_parameters,
    check_save_load,
    check_state_dict_round_trip,
    check_training_flags,
    check_trains,
    check_untouched,
)
from .structured_checks import prune_chain

pytestmark = pytest.mark.requires("BaseStructuredSparsifier", "FakeStructuredSparsity")

CHAINS_ONCE = [pytest.param(chain, id=chain.id) for chain in CHAINS]
"""Every chain once, with ``prune_bias=True`` (every chain supports it): for checks that do not look at biases."""
REPRESENTATIVE_ONCE = [param for param in CHAINS_ONCE if param.id in REPRESENTATIVE]
REPRESENTATIVE_CASES = [case for case in CHAIN_CASES if case.values[0].id in REPRESENTATIVE]
UNTOUCHED_CASES = [case for case in CHAIN_CASES if case.values[0].untouched]
EXPORT_CHAINS = [pytest.param(chain, id=chain.id) for chain in CHAINS if chain.id in EXPORTED]
LIVE_MODEL_DRAWS = 5
"""Draws of a chain's weights ``test_pruned_model_trains`` tries until its masked model is not constant."""
MODES = pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])


@pytest.mark.parametrize(("chain", "prune_bias"), REPRESENTATIVE_CASES)
def test_pruned_parameters_keep_dtype_device_and_grad(backend, device, dtype, chain: Chain, prune_bias: bool):
    """Each parameter stays an ``nn.Parameter`` of the model's dtype and device that requires grad."""
    case = prune_chain(backend, device, dtype, chain, prune_bias)
    check_parameters(case.pruned, case.before)


@pytest.mark.parametrize("chain", CHAINS_ONCE)
def test_pruned_tensors_own_compact_storage(backend, device, dtype, chain: Chain):
    """No shrunk tensor is a view keeping the dense tensor's storage alive."""
    check_compact_storage(prune_chain(backend, device, dtype, chain, True).pruned)


@pytest.mark.parametrize(("chain", "prune_bias"), UNTOUCHED_CASES)
def test_layers_outside_the_chain_are_untouched(backend, device, dtype, chain: Chain, prune_bias: bool):
    case = prune_chain(backend, device, dtype, chain, prune_bias)
    check_untouched(case.pruned, case.untouched)


@MODES
@pytest.mark.parametrize("chain", REPRESENTATIVE_ONCE)
def test_prune_keeps_training_flags(backend, device, dtype, chain: Chain, training: bool):
    """``prune()`` leaves every module in the mode it was in, train or eval."""
    case = prune_chain(backend, device, dtype, chain, True, training=training)
    check_training_flags(case.pruned, case.before)


@pytest.mark.parametrize("chain", REPRESENTATIVE_ONCE)
def test_pruned_model_trains(backend, device, dtype, chain: Chain, _prunebench_seed: int):
    """A fresh SGD optimizer on the pruned model's parameters lowers the loss (in train mode: fine-tuning).

    A draw of weights whose masked model outputs a constant (every ReLU dead) has nothing to train:
    the model is drawn again, from the same seeded stream.
    """
    for _ in range(LIVE_MODEL_DRAWS):
        case = prune_chain(backend, device, dtype, chain, True, training=True)
        if not all(_constant(output) for output in case.masked):
            break
    check_trains(case.pruned, case.example_input, seed=_prunebench_seed)


def _constant(output: torch.Tensor) -> bool:
    return bool((output == output.flatten()[0]).all()) if output.numel() else True


@pytest.mark.parametrize("chain", REPRESENTATIVE_ONCE)
def test_pruned_model_round_trips(backend, device, dtype, chain: Chain):
    """``copy.deepcopy``, ``state_dict`` into a copy of itself and ``torch.save``: each computes the same."""
    case = prune_chain(backend, device, dtype, chain, True)
    with torch.no_grad():
        expected = case.pruned(case.example_input)
    check_deepcopy(case.pruned, case.example_input, expected)
    check_state_dict_round_trip(case.pruned, case.example_input, expected)
    check_save_load(case.pruned, case.example_input, expected)


@pytest.mark.filterwarnings("ignore:The tensor attributes .*_flat_weights")  # torch.export of any nn.LSTM warns
@pytest.mark.parametrize("chain", EXPORT_CHAINS)
def test_pruned_model_exports(backend, device, dtype, chain: Chain):
    case = prune_chain(backend, device, dtype, chain, True, dense=True)
    with torch.no_grad():
        expected = case.pruned(case.example_input)
    check_export(case.pruned, case.example_input, expected, dense=case.dense)
