"""SparseGPTSparsifier computes SparseGPT's mask but drops the weight update: kept weights stay the dense ones."""

from __future__ import annotations

import torch
from prunebench.reference_impl import sparsegpt

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import with_globals

name = "broken-oneshot_no_weight_update"


def _mask_only(weight: torch.Tensor, *args: object) -> tuple[torch.Tensor, torch.Tensor]:
    _, keep = sparsegpt.sparsegpt(weight, *args)
    return weight, keep  # BUG: the updated weights are computed and thrown away


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    update_mask = with_globals(reference_impl.SparseGPTSparsifier.update_mask, sparsegpt=_mask_only)
