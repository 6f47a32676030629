"""The mask parametrization saves its mask with the model: model.state_dict() carries mask keys."""

from __future__ import annotations

from typing import Any

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_masks_in_model_state_dict"


class FakeSparsity(reference_impl.FakeSparsity):
    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__(mask)
        self.register_buffer("mask", mask)  # BUG: persistent, so the model saves every mask twice

    state_dict = torch.nn.Module.state_dict


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def prepare(self, model: Any, config: Any) -> None:
        config = None if config is None else [{**entry, "parametrization": FakeSparsity} for entry in config]
        super().prepare(model, config)
