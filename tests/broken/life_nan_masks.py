"""WeightNormSparsifier's masks hold NaN for kept entries: read as "kept" by a where, but not 0/1 masks."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_nan_masks"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def step(self, use_path: bool = True) -> None:
        super().step(use_path)
        for group in self.groups:
            mask = group["module"].parametrizations[group["tensor_name"]][0].mask
            mask.masked_fill_(mask != 0, torch.nan)  # BUG: e.g. a 0/0 "normalised" score left in the mask
