"""WandaSparsifier ranks the scores of the whole layer at once instead of each output row on its own."""

from __future__ import annotations

import torch
from prunebench.reference_impl import wanda_sparsifier

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import with_globals

name = "broken-wanda_layer_wide"


def _keep_highest_of_layer(scores: torch.Tensor, drop: int) -> torch.Tensor:
    """BUG: a per-row score matrix is flattened, so rows of small weights lose more than their share."""
    if scores.dim() != 2:  # 2:4 blocks are left alone
        return wanda_sparsifier._keep_highest(scores, drop)
    return wanda_sparsifier._keep_highest(scores.reshape(1, -1), drop * scores.shape[0]).reshape(scores.shape)


class WandaSparsifier(reference_impl.WandaSparsifier):
    update_mask = with_globals(reference_impl.WandaSparsifier.update_mask, _keep_highest=_keep_highest_of_layer)
