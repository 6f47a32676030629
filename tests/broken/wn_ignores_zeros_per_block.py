"""WeightNormSparsifier ignores zeros_per_block and always zeroes whole blocks (so 2:4 becomes 4:4)."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wn_ignores_zeros_per_block"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, **group: Any) -> None:
        rows, cols = group["sparse_block_shape"]
        super().update_mask(module, tensor_name, **{**group, "zeros_per_block": rows * cols})  # BUG
