"""``BandSparsifier``: keeps the ``nearliness`` diagonals of a weight, built on torch's BaseSparsifier."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.ao.pruning import BaseSparsifier


class BandSparsifier(BaseSparsifier):
    """Same contract as ``torch.ao.pruning.NearlyDiagonalSparsifier``, written with triu/tril.

    Unlike torch's, the mask keeps its dtype (it is filled in place) and the band is built without a
    Python loop over rows.
    """

    def __init__(self, nearliness: int = 1) -> None:
        super().__init__(defaults={"nearliness": nearliness})

    def update_mask(self, module: nn.Module, tensor_name: str, nearliness: int, **kwargs: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        if nearliness <= 0:
            mask.zero_()
            return
        if nearliness % 2 == 0:
            raise ValueError(f"nearliness must be odd, got {nearliness}")
        half = nearliness // 2
        if half >= min(mask.shape):
            raise ValueError(f"nearliness={nearliness} does not fit a tensor of shape {tuple(mask.shape)}")
        band = torch.ones(mask.shape, dtype=torch.bool, device=mask.device).triu(-half).tril(half)
        mask.copy_(band)
