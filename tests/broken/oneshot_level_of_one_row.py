"""OneShotMagnitudeSparsifier counts the weights to prune from one output row, then prunes that many layer-wide."""

from __future__ import annotations

from typing import Any

from prunebench.reference_impl.base_sparsifier import _attached_mask
from prunebench.reference_impl.oneshot_selection import drop_count, keep_highest
from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-oneshot_level_of_one_row"


class OneShotMagnitudeSparsifier(reference_impl.OneShotMagnitudeSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        if kwargs.get("semi_structured_block_size") is not None:
            return super().update_mask(module, tensor_name, sparsity_level, **kwargs)
        scores = module.parametrizations[tensor_name].original.detach().abs()
        drop = drop_count(sparsity_level, scores.shape[1])  # BUG: one row's count, for the whole layer
        _attached_mask(module, tensor_name).copy_(keep_highest(scores.reshape(1, -1), drop).reshape(scores.shape))
        return None
