"""prune() resets the BatchNorm running statistics: the pruned model no longer computes what the masked one did."""

from __future__ import annotations

from torch import nn

from . import _zoo_base
from ._zoo_base import *  # noqa: F403 - re-export the reference names this bug leaves alone

name = "broken-_zoo_pruned_differs"


class SaliencyPruner(_zoo_base.SaliencyPruner):
    def prune(self, example_inputs: object = None) -> nn.Module:
        pruned = super().prune(example_inputs)
        for module in pruned.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()  # BUG: statistics of the kept channels lost
        return pruned
