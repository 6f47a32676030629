"""SaliencyPruner masks the rows with the highest L1 norm (topk's default largest=True) instead of the lowest."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import with_globals

name = "broken-structured_saliency_highest"


def _clear_highest(mask: torch.Tensor, saliency: torch.Tensor, count: int) -> torch.Tensor:
    """BUG: ``torch.topk`` without ``largest=False`` picks the most salient rows."""
    highest = torch.topk(saliency, count).indices
    mask[highest] = False
    return highest


class SaliencyPruner(reference_impl.SaliencyPruner):
    update_mask = with_globals(reference_impl.SaliencyPruner.update_mask, clear_lowest=_clear_highest)
