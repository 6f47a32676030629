"""squash_mask leaves the mask behind as a buffer: the squashed state_dict no longer loads into a dense model."""

from __future__ import annotations

from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_squash_leaves_buffer"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        masks = {g["tensor_fqn"]: (g["module"], g["module"].parametrizations.weight[0].mask) for g in self.groups}
        super().squash_mask(*args, **kwargs)
        for module, mask in masks.values():
            module.register_buffer("weight_mask", mask.clone())  # BUG: kept "for later" in the model
