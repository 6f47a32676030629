"""``MagnitudeSparsifier``: zero the ``sparsity_level`` fraction of smallest-magnitude weights, per tensor."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.ao.pruning import BaseSparsifier


class MagnitudeSparsifier(BaseSparsifier):
    """Unstructured magnitude pruning on torch's ``BaseSparsifier``: only the rule is ours.

    ``sparsity_level`` is a per-tensor setting: a config entry may override the constructor's.
    """

    def __init__(self, sparsity_level: float = 0.5) -> None:
        if not 0.0 <= sparsity_level <= 1.0:
            raise ValueError(f"sparsity_level must lie in [0, 1], got {sparsity_level}")
        super().__init__(defaults={"sparsity_level": sparsity_level})

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        weight = module.parametrizations[tensor_name].original
        zeros = round(sparsity_level * weight.numel())
        keep = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)
        if zeros:
            keep[weight.detach().abs().flatten().topk(zeros, largest=False).indices] = False
        mask.copy_(keep.reshape(mask.shape))
