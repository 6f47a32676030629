"""LSTMSaliencyPruner ranks rows within each gate of each tensor, so gates lose different units (as torch does)."""

from __future__ import annotations

from typing import Any

from prunebench.reference_impl.structured.lstm import GATES
from prunebench.reference_impl.structured.masks import row_mask_parametrization
from prunebench.reference_impl.structured.saliency_pruner import clear_lowest, row_saliency
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-structured_lstm_units_per_gate"


class LSTMSaliencyPruner(reference_impl.LSTMSaliencyPruner):
    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        if not isinstance(module, nn.LSTM) or "_hr_" in tensor_name:
            super().update_mask(module, tensor_name, sparsity_level, **kwargs)
            return
        hidden = module.hidden_size
        gate_masks = row_mask_parametrization(module, tensor_name).mask.view(GATES, hidden)
        gate_saliency = row_saliency(getattr(module, tensor_name)).view(GATES, hidden)
        for mask, saliency in zip(gate_masks, gate_saliency, strict=True):  # BUG: units chosen per gate
            clear_lowest(mask, saliency, int(hidden * sparsity_level))
