"""prune() bakes the masks into the weights but removes no row: the model is as large as before."""

from __future__ import annotations

from torch import nn

from . import _zoo_base
from ._zoo_base import *  # noqa: F403 - re-export the adapter's names this bug leaves alone

name = "broken-_zoo_prune_removes_nothing"


class SaliencyPruner(_zoo_base.SaliencyPruner):
    def prune(self, example_inputs: object = None) -> nn.Module:
        self._bake_masks()  # BUG: zeroed rows stay in the tensors
        return self.model
