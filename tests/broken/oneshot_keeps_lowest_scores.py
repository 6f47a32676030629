"""WandaSparsifier keeps the lowest |W| * ||X|| scores of each row and prunes the highest."""

from __future__ import annotations

import torch
from prunebench.reference_impl import oneshot_selection

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import with_globals

name = "broken-oneshot_keeps_lowest_scores"


def _keep_lowest(scores: torch.Tensor, drop: int) -> torch.Tensor:
    return ~oneshot_selection.keep_highest(scores, scores.shape[-1] - drop)  # BUG: the ranking is inverted


class WandaSparsifier(reference_impl.WandaSparsifier):
    update_mask = with_globals(reference_impl.WandaSparsifier.update_mask, _keep_highest=_keep_lowest)
