"""WeightNormSparsifier.prepare parametrizes a copy of each weight: an optimizer built before prepare trains nothing."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_prepare_copies_weight"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def prepare(self, model: Any, config: Any) -> None:
        super().prepare(model, config)
        for group in self.groups:
            parametrizations = group["module"].parametrizations[group["tensor_name"]]
            parametrizations.original = nn.Parameter(parametrizations.original.detach().clone())  # BUG
