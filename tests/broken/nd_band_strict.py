"""NearlyDiagonalSparsifier keeps |row - col| < nearliness // 2 instead of <=, losing the band's outer diagonals."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-nd_band_strict"


class NearlyDiagonalSparsifier(reference_impl.NearlyDiagonalSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, nearliness: int, **kwargs: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        rows = torch.arange(mask.shape[0], device=mask.device)[:, None]
        cols = torch.arange(mask.shape[1], device=mask.device)[None, :]
        mask.copy_((rows - cols).abs() < nearliness // 2)  # BUG: `<` where the band needs `<=`
