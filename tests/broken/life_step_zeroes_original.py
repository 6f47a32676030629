"""WeightNormSparsifier.step writes its zeros into the original weight: pruning becomes destructive."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_step_zeroes_original"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def step(self, use_path: bool = True) -> None:
        super().step(use_path)
        with torch.no_grad():
            for group in self.groups:
                parametrizations = group["module"].parametrizations[group["tensor_name"]]
                parametrizations.original.mul_(parametrizations[0].mask)  # BUG: the masked values are lost
