"""prune() "compensates" removed channels by rescaling every Linear/Conv2d, layers outside every pruned chain too."""

from __future__ import annotations

import torch
from torch import nn
from torch.fx import GraphModule

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-structured_rescales_unpruned"


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    def prune(self) -> GraphModule:
        masks = [self.state[group["tensor_fqn"]]["mask"] for group in self.groups]
        kept_fraction = float(torch.cat([mask.flatten().float() for mask in masks]).mean())
        pruned = super().prune()
        with torch.no_grad():
            for module in pruned.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    module.weight.div_(kept_fraction)  # BUG: whether the layer lost channels or not
        return pruned
