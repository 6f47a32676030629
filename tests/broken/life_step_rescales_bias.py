"""WeightNormSparsifier.step also rescales the biases of the layers it masks: a parameter it was not asked to touch."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_step_rescales_bias"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def step(self, use_path: bool = True) -> None:
        super().step(use_path)
        with torch.no_grad():
            for group in self.groups:
                bias = getattr(group["module"], "bias", None)
                if bias is not None:
                    bias.mul_(0.5)  # BUG: "normalises" the layer after masking it
