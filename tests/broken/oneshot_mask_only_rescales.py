"""OneShotMagnitudeSparsifier (masks only, it declares no weight update) rescales the kept weights by 1 / density."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-oneshot_mask_only_rescales"


class OneShotMagnitudeSparsifier(reference_impl.OneShotMagnitudeSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        super().update_mask(module, tensor_name, sparsity_level, **kwargs)
        mask = module.parametrizations[tensor_name][0].mask
        module.parametrizations[tensor_name].original.mul_(1 / mask.mean())  # BUG: "keep the output's scale"
