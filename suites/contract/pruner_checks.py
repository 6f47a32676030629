"""Generic checks of structured pruners: ``prune()`` turns the masked chain into a smaller, equal, living model.

The life of the pruned model (dtype, device, grad, training flags, compact storage, training,
round trips, export) is judged by ``suites/pruned_model_checks.py``, the same functions the
structured suites apply to every chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from prunebench.harness.subjects import Subject
from torch import nn

from .. import pruned_model_checks as life
from ..checks import assert_close
from .registry import Check
from .workbench import batch, build_model, calibrated_step, config, masks, require_zeros


@dataclass
class Pruned:
    """A stepped ``ChainModel`` after ``prune()``, with what it was before."""

    model: nn.Module
    masks: dict[str, torch.Tensor]
    inputs: torch.Tensor
    masked_output: torch.Tensor
    before: life.ModelRecord


def _pruned(subject: Subject, device: str, dtype: torch.dtype, training: bool = False) -> Pruned:
    model = build_model(subject.kind, device, dtype).train(training)
    before = life.record_model(model)
    pruner = subject.build()
    pruner.prepare(model, config())
    calibrated_step(pruner, model)
    found = masks(model)
    require_zeros(found, "prune()")
    inputs = batch(model)
    with torch.no_grad():
        expected = model(inputs)
    return Pruned(pruner.prune(), found, inputs, expected, before)


def prune_equals_masked(subject: Subject, device: str, dtype: torch.dtype) -> None:
    """The pruned model computes what the masked one did, with the masked rows physically gone."""
    pruned = _pruned(subject, device, dtype)
    with torch.no_grad():
        actual = pruned.model(pruned.inputs)
    assert_close(actual, pruned.masked_output, "the pruned model's output vs the masked model's")
    for layer, mask in pruned.masks.items():
        rows = pruned.model.get_submodule(layer).weight.shape[0]
        kept_rows = int(mask.sum())
        assert rows == kept_rows, f"{layer}.weight has {rows} rows after prune(), expected the {kept_rows} kept"


def pruned_parameters_keep_their_kind(subject: Subject, device: str, dtype: torch.dtype) -> None:
    """``nn.Parameter``s of the model's dtype and device that require grad, in compact storage."""
    pruned = _pruned(subject, device, dtype)
    life.check_parameters(pruned.model, pruned.before)
    life.check_compact_storage(pruned.model)


def prune_keeps_training_flags(subject: Subject, device: str, dtype: torch.dtype) -> None:
    for training in (True, False):
        pruned = _pruned(subject, device, dtype, training=training)
        life.check_training_flags(pruned.model, pruned.before)


def pruned_model_trains(subject: Subject, device: str, dtype: torch.dtype) -> None:
    pruned = _pruned(subject, device, dtype)
    life.check_trains(pruned.model, pruned.inputs)


def pruned_model_round_trips(subject: Subject, device: str, dtype: torch.dtype) -> None:
    """``state_dict`` (through ``torch.load(weights_only=True)``), ``deepcopy`` and whole-model save/load."""
    pruned = _pruned(subject, device, dtype)
    with torch.no_grad():
        expected = pruned.model(pruned.inputs)
    life.check_state_dict_round_trip(pruned.model, pruned.inputs, expected)
    life.check_deepcopy(pruned.model, pruned.inputs, expected)
    life.check_save_load(pruned.model, pruned.inputs, expected)


def pruned_model_exports(subject: Subject, device: str, dtype: torch.dtype) -> None:
    pruned = _pruned(subject, device, dtype)
    with torch.no_grad():
        expected = pruned.model(pruned.inputs)
    life.check_export(pruned.model, pruned.inputs, expected)


PRUNER_ONLY: list[Check] = [
    Check("prune_equals_masked", prune_equals_masked, ("prune",)),
    Check("pruned_parameters_keep_their_kind", pruned_parameters_keep_their_kind, ("prune",)),
    Check("prune_keeps_training_flags", prune_keeps_training_flags, ("prune",)),
    Check("pruned_model_trains", pruned_model_trains, ("prune",)),
    Check("pruned_model_round_trips", pruned_model_round_trips, ("prune",)),
    Check("pruned_model_exports", pruned_model_exports, ("prune",)),
]
"""Checks of what structured pruners end with: ``prune()`` and the model it hands back."""
