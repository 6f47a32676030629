"""``LSTMSaliencyPruner``: mask whole LSTM hidden units (all four gates, ih and hh) of lowest saliency."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..validation import RAISE_OUTSIDE_UNIT, LevelPolicy, check_sparsity_level
from .base_structured_sparsifier import BaseStructuredSparsifier
from .lstm import GATES
from .masks import LSTM_WEIGHT, keep_of, layer_type, row_mask_parametrization
from .saliency_pruner import clear_lowest, row_saliency


def _gate_pair(tensor_name: str) -> tuple[str, str] | None:
    """``(weight_ih_l<k>, weight_hh_l<k>)`` for a gate weight name, None for anything else."""
    match = LSTM_WEIGHT.fullmatch(tensor_name)
    if match is None or match.group(1) == "hr":
        return None
    layer, suffix = match.group(2), match.group(3) or ""
    return f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"


class LSTMSaliencyPruner(BaseStructuredSparsifier):
    """Mask ``int(hidden_size * sparsity_level)`` hidden units per LSTM layer, by summed L1 saliency.

    A unit's saliency is the L1 norm of its rows in all four gates of both ``weight_ih_l<k>`` and
    ``weight_hh_l<k>``; the chosen units are masked in every gate of both tensors (those that are
    configured), so the masked LSTM is exactly the pruned one. Torch masks different units per gate,
    which no smaller LSTM reproduces. Projection weights and non-LSTM tensors get plain row saliency,
    as in ``SaliencyPruner``. Masks only lose rows; already masked units are picked first.
    """

    level_policy: ClassVar[LevelPolicy] = RAISE_OUTSIDE_UNIT
    """As ``SaliencyPruner``: a unit count outside [0, hidden_size] is invalid."""

    def validate_group(self, group: Mapping[str, Any]) -> None:
        super().validate_group(group)
        check_sparsity_level(group.get("sparsity_level"), self.level_policy, f" for {group['tensor_fqn']!r}")

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        pair = _gate_pair(tensor_name) if layer_type(module) is nn.LSTM else None
        if pair is None:
            mask = row_mask_parametrization(module, tensor_name).mask
            clear_lowest(mask, row_saliency(getattr(module, tensor_name)), int(mask.numel() * sparsity_level))
            return
        hidden = module.hidden_size
        masks = [p.mask for p in (row_mask_parametrization(module, name) for name in pair) if p is not None]
        saliency = sum(row_saliency(getattr(module, name)).view(GATES, hidden).sum(0) for name in pair)
        already = torch.zeros(hidden, dtype=torch.bool, device=saliency.device)
        for mask in masks:
            already |= ~keep_of(mask).view(GATES, hidden).all(0)
        saliency = torch.where(already, torch.full_like(saliency, -1.0), saliency)
        units = torch.topk(saliency, int(hidden * sparsity_level), largest=False).indices
        for mask in masks:
            mask.view(GATES, hidden)[:, units] = False
