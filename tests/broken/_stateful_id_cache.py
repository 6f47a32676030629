"""WeightNormSparsifier caches each module's mask by ``id(module)`` and reuses it: stale after the weights change,
and another module's mask once a freed module's id is reused (which tests that shares depends on what ran before)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-stateful_id_cache"  # no record: Python reuses ids by chance, so no suite run catches it every time

_MASKS: dict[int, torch.Tensor] = {}
"""BUG: keyed by id(module), which Python reuses for a new object once the old one is freed."""


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, **group: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        cached = _MASKS.get(id(module))
        if cached is not None and cached.shape == mask.shape and cached.dtype == mask.dtype:
            mask.copy_(cached)  # "computed once, reused": the ranking is expensive
            return
        super().update_mask(module, tensor_name, **group)
        _MASKS[id(module)] = mask.clone()
