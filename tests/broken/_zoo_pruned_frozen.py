"""prune() returns a model whose parameters no longer require grad: it cannot be fine-tuned."""

from __future__ import annotations

from torch import nn

from . import _zoo_base
from ._zoo_base import *  # noqa: F403 - re-export the reference names this bug leaves alone

name = "broken-_zoo_pruned_frozen"


class SaliencyPruner(_zoo_base.SaliencyPruner):
    def prune(self, example_inputs: object = None) -> nn.Module:
        pruned = super().prune(example_inputs)
        for parameter in pruned.parameters():
            parameter.requires_grad_(False)  # BUG: freezes what was pruned
        return pruned
