"""Generic checks of structured pruners: ``prune()`` turns every masked layer chain into a smaller, equal, living model.

They run on the layer chains of the structured suites (``suites/chains.py``: Linear, Conv2d with and
without BatchNorm, padding, pooling and flatten, LSTM), each chain its own test, so a rule that is right
for ``nn.Linear`` and wrong for ``nn.Conv2d`` fails on the convolutions. Unlike those suites, the masks
are the class's own (its rule, its constructor arguments), stepped to level as it declares. The life
of the pruned model (dtype, device, grad, training flags, compact storage, training, round trips,
export) is judged by ``suites/pruned_model_checks.py``, the same functions the structured suites use.
"""

from __future__ import annotations

import torch
from prunebench.harness.subjects import Subject

from .. import pruned_model_checks as life
from ..chains import CHAINS, CHAINS_BY_ID, EXPORTED, LAYER_TYPE_OF_FAMILY, REPRESENTATIVE, Chain
from ..structured_checks import PrunedChain, check_pruned_chain, prune_chain_with
from .registry import Check
from .workbench import require_layer_type

LIVE_MODEL_DRAWS = 5
"""Draws of a chain's weights ``pruned_model_trains`` tries until its masked model is not constant."""


def _pruned(subject: Subject, device: str, dtype: torch.dtype, case: str, **options: bool) -> PrunedChain:
    """The chain ``case`` prepared, stepped to level and pruned by a fresh instance of the subject."""
    chain = CHAINS_BY_ID[case]
    require_layer_type(subject, LAYER_TYPE_OF_FAMILY[chain.family])
    pruner = subject.build()
    steps = subject.tags.steps_for(pruner)
    return prune_chain_with(pruner, device, dtype, chain, steps=steps, require_masked=True, **options)


def _must_shrink(chain: Chain, pruner: object) -> bool:
    """An LSTM whose pruned units keep their biases keeps them alive (README): it need not shrink."""
    return chain.family != "lstm" or bool(getattr(pruner, "prune_bias", True))


def prune_equals_masked(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """The pruned model computes what the masked one did, with the masked rows physically gone, nothing of
    the pruning machinery left, and the layers outside the chain bit-identical."""
    pruned = _pruned(subject, device, dtype, case)
    chain = CHAINS_BY_ID[case]
    check_pruned_chain(pruned, chain, must_shrink=_must_shrink(chain, pruned.pruner))
    life.check_untouched(pruned.pruned, pruned.untouched)


def pruned_parameters_keep_their_kind(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """``nn.Parameter``s of the model's dtype and device that require grad, in compact storage."""
    pruned = _pruned(subject, device, dtype, case)
    life.check_parameters(pruned.pruned, pruned.before)
    life.check_compact_storage(pruned.pruned)


def prune_keeps_training_flags(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    for training in (True, False):
        pruned = _pruned(subject, device, dtype, case, training=training)
        life.check_training_flags(pruned.pruned, pruned.before)


def pruned_model_trains(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """A fresh optimizer lowers the pruned model's loss; a draw whose masked model is constant is redrawn."""
    for _ in range(LIVE_MODEL_DRAWS):
        pruned = _pruned(subject, device, dtype, case, training=True)
        if not all(_constant(output) for output in pruned.masked):
            break
    life.check_trains(pruned.pruned, pruned.example_input)


def _constant(output: torch.Tensor) -> bool:
    return bool((output == output.flatten()[0]).all()) if output.numel() else True


def pruned_model_round_trips(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """``state_dict`` (through ``torch.load(weights_only=True)``), ``deepcopy`` and whole-model save/load."""
    pruned = _pruned(subject, device, dtype, case)
    with torch.no_grad():
        expected = pruned.pruned(pruned.example_input)
    life.check_state_dict_round_trip(pruned.pruned, pruned.example_input, expected)
    life.check_deepcopy(pruned.pruned, pruned.example_input, expected)
    life.check_save_load(pruned.pruned, pruned.example_input, expected)


def pruned_model_exports(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    pruned = _pruned(subject, device, dtype, case, dense=True)
    with torch.no_grad():
        expected = pruned.pruned(pruned.example_input)
    life.check_export(pruned.pruned, pruned.example_input, expected, dense=pruned.dense)


EVERY_CHAIN = tuple(chain.id for chain in CHAINS)

PRUNER_ONLY: list[Check] = [
    Check("prune_equals_masked", prune_equals_masked, ("prune",), EVERY_CHAIN),
    Check("pruned_parameters_keep_their_kind", pruned_parameters_keep_their_kind, ("prune",), REPRESENTATIVE),
    Check("prune_keeps_training_flags", prune_keeps_training_flags, ("prune",), REPRESENTATIVE),
    Check("pruned_model_trains", pruned_model_trains, ("prune",), REPRESENTATIVE),
    Check("pruned_model_round_trips", pruned_model_round_trips, ("prune",), REPRESENTATIVE),
    Check("pruned_model_exports", pruned_model_exports, ("prune",), EXPORTED),
]
"""Checks of what structured pruners end with: ``prune()`` and the model it hands back, chain by chain
(the costlier ones on one chain per kind of rewrite, as the structured suites do)."""
