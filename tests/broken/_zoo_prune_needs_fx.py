"""prune() traces the model with torch.fx first, as torch.ao.pruning does: no zoo model survives it."""

from __future__ import annotations

from torch import fx, nn

from . import _zoo_base
from ._zoo_base import *  # noqa: F403 - re-export the reference names this bug leaves alone

name = "broken-_zoo_prune_needs_fx"


class SaliencyPruner(_zoo_base.SaliencyPruner):
    def prune(self, example_inputs: object = None) -> nn.Module:
        fx.symbolic_trace(self.model)  # BUG: data-dependent control flow in every zoo model raises here
        return super().prune(example_inputs)
