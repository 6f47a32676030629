"""WeightNormSparsifier computes each tensor's mask at its first step and reuses it: a "faster" sparsifier."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wn_masks_frozen"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, **group: Any) -> None:
        done = self.__dict__.setdefault("_masked_once", set())
        if group["tensor_fqn"] in done:
            return  # BUG: a later step (new weights, a raised level) keeps the first step's mask
        super().update_mask(module, tensor_name, **group)
        done.add(group["tensor_fqn"])
