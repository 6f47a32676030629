"""squash_mask also rescales the weights of layers that carry no mask."""

from __future__ import annotations

from typing import Any

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_squash_rescales_others"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        super().squash_mask(*args, **kwargs)
        masked = {id(group["module"]) for group in self.groups}
        with torch.no_grad():
            for module in self.model.modules():
                if isinstance(module, torch.nn.Linear) and id(module) not in masked:
                    module.weight.mul_(0.9)  # BUG: a global "compensation" for the pruned weights
