"""WandaSparsifier's 2:4 mode ranks each run by |W| alone, forgetting the input norms."""

from __future__ import annotations

from typing import Any

from prunebench.reference_impl.base_sparsifier import _attached_mask
from prunebench.reference_impl.oneshot_selection import keep_highest_in_runs
from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wanda_n_of_m_ignores_activations"


class WandaSparsifier(reference_impl.WandaSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        block_size = kwargs.get("semi_structured_block_size")
        if block_size is None:
            return super().update_mask(module, tensor_name, sparsity_level, **kwargs)
        self.recorder(kwargs["tensor_fqn"])  # calibrated, as the contract wants, then not used:
        magnitudes = module.parametrizations[tensor_name].original.detach().abs()  # BUG: |W|, not |W| * ||X||
        _attached_mask(module, tensor_name).copy_(keep_highest_in_runs(magnitudes, block_size))
        return None
