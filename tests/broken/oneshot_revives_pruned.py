"""SparseGPTSparsifier does not hold weights a previous pass pruned: its updates make them nonzero again."""

from __future__ import annotations

import torch
from prunebench.reference_impl import sparsegpt

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import with_globals

name = "broken-oneshot_revives_pruned"


def _forgetting(weight: torch.Tensor, factor: torch.Tensor, pruned: torch.Tensor, *args: object) -> tuple:
    return sparsegpt.sparsegpt(weight, factor, torch.zeros_like(pruned), *args)  # BUG: earlier zeros not held


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    update_mask = with_globals(reference_impl.SparseGPTSparsifier.update_mask, sparsegpt=_forgetting)
