"""``SaliencyPruner``: mask the rows with the smallest L1 norm."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..validation import RAISE_OUTSIDE_UNIT, LevelPolicy, check_sparsity_level
from .base_structured_sparsifier import BaseStructuredSparsifier
from .masks import row_mask_parametrization


def row_saliency(weight: torch.Tensor) -> torch.Tensor:
    """L1 norm of each row (over every dim but the first)."""
    return weight.detach().abs().sum(dim=tuple(range(1, weight.dim())))


def clear_lowest(mask: torch.Tensor, saliency: torch.Tensor, count: int) -> torch.Tensor:
    """Set ``mask`` False at the ``count`` lowest-saliency rows (in place); returns their indices."""
    lowest = torch.topk(saliency, count, largest=False).indices
    mask[lowest] = False
    return lowest


class SaliencyPruner(BaseStructuredSparsifier):
    """Mask ``int(rows * sparsity_level)`` rows of lowest L1 saliency, per tensor, on every ``step()``.

    As in torch, saliency is measured on the masked weight and masks only ever lose rows: rows
    already masked have zero saliency, so a repeated ``step()`` picks them again. A row holding NaN
    (saliency NaN) or inf (saliency inf) is ranked as ``torch.topk`` ranks: after every finite row,
    NaN last; a masked NaN/inf row becomes exact zeros.
    """

    level_policy: ClassVar[LevelPolicy] = RAISE_OUTSIDE_UNIT
    """torch's ``int(rows * level)`` rows go to ``topk``: outside [0, 1] that count is invalid."""

    def validate_group(self, group: Mapping[str, Any]) -> None:
        super().validate_group(group)
        check_sparsity_level(group.get("sparsity_level"), self.level_policy, f" for {group['tensor_fqn']!r}")

    def row_scores(self, module: nn.Module, tensor_name: str, settings: Mapping[str, Any]) -> torch.Tensor:
        """Each row's L1 saliency, which a graph-planned group sums per unit."""
        return row_saliency(getattr(module, tensor_name))

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        mask = row_mask_parametrization(module, tensor_name).mask
        clear_lowest(mask, row_saliency(getattr(module, tensor_name)), int(mask.numel() * sparsity_level))
