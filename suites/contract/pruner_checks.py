"""Generic checks of structured pruners: ``prune()`` turns the masked chain into a smaller, equal, living model."""

from __future__ import annotations

import torch
from torch import nn

from harness.subjects import Subject

from ..checks import assert_close
from .registry import Check
from .workbench import batch, masks, prepared, require_zeros


def _pruned(subject: Subject, device: str, dtype: torch.dtype) -> tuple[nn.Module, dict, torch.Tensor, torch.Tensor]:
    """The stepped model pruned, with the masks it had, the input and the masked model's output."""
    model, pruner = prepared(subject, device, dtype)
    found = masks(model)
    require_zeros(found, "prune()")
    inputs = batch(model)
    with torch.no_grad():
        expected = model(inputs)
    return pruner.prune(), found, inputs, expected


def prune_equals_masked(subject: Subject, device: str, dtype: torch.dtype) -> None:
    """The pruned model computes what the masked one did, with the masked rows physically gone."""
    pruned, found, inputs, expected = _pruned(subject, device, dtype)
    with torch.no_grad():
        actual = pruned(inputs)
    assert_close(actual, expected, "the pruned model's output vs the masked model's")
    for layer, mask in found.items():
        rows = pruned.get_submodule(layer).weight.shape[0]
        kept_rows = int(mask.sum())
        assert rows == kept_rows, (
            f"{layer}.weight has {rows} rows after prune(), expected the {kept_rows} its mask kept"
        )


PRUNER_ONLY: list[Check] = [
    Check("prune_equals_masked", prune_equals_masked, ("prune",)),
]
"""Checks of what structured pruners end with: ``prune()``."""
