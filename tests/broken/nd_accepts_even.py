"""NearlyDiagonalSparsifier accepts an even nearliness (it checks only that the band fits) without a ValueError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

import reference_impl
from reference_impl.nearly_diagonal_sparsifier import band_mask

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-nd_accepts_even"


class NearlyDiagonalSparsifier(reference_impl.NearlyDiagonalSparsifier):
    def validate_group(self, group: Mapping[str, Any]) -> None:
        shape = tuple(getattr(group["module"], group["tensor_name"]).shape)
        if group["nearliness"] // 2 >= min(shape):  # BUG: no `nearliness % 2 == 0` check
            raise ValueError(f"nearliness={group['nearliness']} does not fit a tensor of shape {shape}")

    def update_mask(self, module: nn.Module, tensor_name: str, nearliness: int, **kwargs: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        mask.copy_(band_mask(tuple(mask.shape), nearliness, mask.device))
