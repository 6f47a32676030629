"""prune() bakes the masks into the weights (squash_mask) but removes no row: the model is as large as before."""

from __future__ import annotations

from torch import nn

from . import _zoo_base
from ._zoo_base import *  # noqa: F403 - re-export the reference names this bug leaves alone

name = "broken-_zoo_prune_removes_nothing"


class SaliencyPruner(_zoo_base.SaliencyPruner):
    def prune(self, example_inputs: object = None) -> nn.Module:
        self.squash_mask()  # BUG: zeroed rows stay in the tensors
        return self.model
