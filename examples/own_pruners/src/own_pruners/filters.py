"""``L1FilterPruner``: a structured pruner for CNNs that removes the convolution filters of smallest L1 norm."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from torch.ao.pruning._experimental.pruner import BaseStructuredSparsifier


class L1FilterPruner(BaseStructuredSparsifier):
    """Ranks each layer's filters (output channels) by the L1 norm of their weights, as Li et al.'s "Pruning
    Filters for Efficient ConvNets" (arXiv:1608.08710) does; ``prune()`` is torch's.

    Written for convolutional networks, and declared so: prunebench checks it on convolutions only.
    """

    prunebench_tags: ClassVar[dict[str, Any]] = {"layer_types": ["Conv2d"]}

    def __init__(self, sparsity_level: float = 0.5, prune_bias: bool = True) -> None:
        if not 0.0 <= sparsity_level <= 1.0:
            raise ValueError(f"sparsity_level must lie in [0, 1], got {sparsity_level}")
        super().__init__(defaults={"sparsity_level": sparsity_level, "prune_bias": prune_bias})

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        weight = getattr(module, tensor_name).detach()
        norms = weight.abs().flatten(start_dim=1).sum(dim=1)  # one norm per filter, over its channels and taps
        mask = module.parametrizations[tensor_name][0].mask
        pruned = int(sparsity_level * norms.numel())
        keep = torch.ones_like(mask, dtype=torch.bool)
        if pruned:
            keep[norms.topk(pruned, largest=False).indices] = False
        mask.copy_(keep)
