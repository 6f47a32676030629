"""The mask is applied once, by zeroing the weight at step, not in the forward: training revives masked weights."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_mask_only_at_step"


class FakeSparsity(reference_impl.FakeSparsity):
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight  # BUG: relies on the zeros written at step


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def prepare(self, model, config) -> None:
        config = None if config is None else [{**entry, "parametrization": FakeSparsity} for entry in config]
        super().prepare(model, config)

    def step(self, use_path: bool = True) -> None:
        super().step(use_path)
        with torch.no_grad():
            for group in self.groups:
                parametrizations = group["module"].parametrizations[group["tensor_name"]]
                parametrizations.original.mul_(parametrizations[0].mask)
