"""FPGMPruner ranks filters by their own L2 norm (magnitude pruning) instead of their distance to the others."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-structured_fpgm_smallest_norm"


class FPGMPruner(reference_impl.FPGMPruner):
    def compute_distance(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.reshape(weight.shape[0], -1).norm(dim=1)  # BUG: no geometric median, just the smallest filters
