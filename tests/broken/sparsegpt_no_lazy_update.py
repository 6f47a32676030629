"""SparseGPTSparsifier never passes a block's errors on to the columns after it (the lazy batch update is lost)."""

from __future__ import annotations

import torch
from prunebench.reference_impl import sparsegpt

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import with_globals

name = "broken-sparsegpt_no_lazy_update"


def _block_errors_lost(block: torch.Tensor, factor: torch.Tensor, pruned: torch.Tensor, group: int | None):
    sparsegpt.prune_block(block, factor, pruned, group)
    return torch.zeros_like(block)  # BUG: the later blocks never see this block's errors


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    update_mask = with_globals(
        reference_impl.SparseGPTSparsifier.update_mask,
        sparsegpt=with_globals(sparsegpt.sparsegpt, prune_block=_block_errors_lost),
    )
