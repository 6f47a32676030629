"""OneShotMagnitudeSparsifier takes its N:M runs down the outputs (M rows of one column), not along a row's inputs."""

from __future__ import annotations

from typing import Any

from prunebench.reference_impl.base_sparsifier import _attached_mask
from prunebench.reference_impl.oneshot_selection import keep_highest
from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-oneshot_n_of_m_wrong_dimension"


class OneShotMagnitudeSparsifier(reference_impl.OneShotMagnitudeSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        block_size = kwargs.get("semi_structured_block_size")
        if block_size is None:
            return super().update_mask(module, tensor_name, sparsity_level, **kwargs)
        columns = module.parametrizations[tensor_name].original.detach().abs().T  # BUG: runs of M outputs
        keep = keep_highest(columns.reshape(columns.shape[0], -1, block_size), block_size // 2)
        _attached_mask(module, tensor_name).copy_(keep.reshape(columns.shape).T)
        return None
