"""WandaSparsifier caches each layer's mask by ``id(module)`` and hands it back at every later step."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wanda_masks_frozen"
_MASKS: dict[int, torch.Tensor] = {}


class WandaSparsifier(reference_impl.WandaSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, *args: Any, **kwargs: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        if id(module) in _MASKS:  # BUG: new weights and new activations, the old mask
            mask.copy_(_MASKS[id(module)])
            return
        super().update_mask(module, tensor_name, *args, **kwargs)
        _MASKS[id(module)] = mask.clone()
