"""``L1RowPruner``: a structured pruner that removes the output rows of smallest L1 norm."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from torch.ao.pruning._experimental.pruner import BaseStructuredSparsifier


class L1RowPruner(BaseStructuredSparsifier):
    """Ranks the rows (Linear) or filters (Conv2d) of each weight by their L1 norm; ``prune()`` is torch's.

    The rule is that of ``torch.ao.pruning``'s ``SaliencyPruner``, so ``prunebench check
    --like=SaliencyPruner`` holds it to that class's suites and differential checks. It ranks rows, not
    LSTM units (which must go alike from all four gates), and says so.
    """

    prunebench_tags: ClassVar[dict[str, Any]] = {"layer_types": ["Linear", "Conv2d"]}

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        super().__init__(defaults={"sparsity_level": 0.5, **(defaults or {})})

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        weight = getattr(module, tensor_name)
        mask = module.parametrizations[tensor_name][0].mask
        norms = weight.detach().abs().flatten(1).sum(dim=1)
        pruned = int(sparsity_level * norms.numel())
        keep = torch.ones_like(mask, dtype=torch.bool)
        if pruned:
            keep[norms.topk(pruned, largest=False).indices] = False
        mask.copy_(keep)
