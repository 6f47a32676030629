"""NearlyDiagonalSparsifier accepts an even nearliness (it checks only that the band fits) without a ValueError."""

from __future__ import annotations

from typing import Any

from prunebench.reference_impl.nearly_diagonal_sparsifier import write_band
from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-nd_accepts_even"


class NearlyDiagonalSparsifier(reference_impl.NearlyDiagonalSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, nearliness: int, **kwargs: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        if nearliness // 2 >= min(mask.shape):  # BUG: no `nearliness % 2 == 0` check
            raise ValueError(f"nearliness={nearliness} does not fit a tensor of shape {tuple(mask.shape)}")
        write_band(mask, nearliness)
