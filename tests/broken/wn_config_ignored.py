"""WeightNormSparsifier.update_mask reads the constructor defaults instead of each tensor's own group."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wn_config_ignored"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, **group: Any) -> None:
        super().update_mask(module, tensor_name, **{**group, **self.defaults})  # BUG: defaults win
