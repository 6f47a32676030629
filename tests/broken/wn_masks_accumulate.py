"""WeightNormSparsifier ANDs each step's new mask into the previous one, so zeros pile up until the layer collapses."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wn_masks_accumulate"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, **group: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        previous = mask.clone()
        mask.fill_(1)  # rank the unmasked weight afresh ...
        super().update_mask(module, tensor_name, **group)
        mask.mul_(previous)  # BUG: ... then keep every earlier zero on top of the new ones (0/1 masks: AND)
