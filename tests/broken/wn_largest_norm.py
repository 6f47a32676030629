"""WeightNormSparsifier ranks blocks by largest norm, so it zeroes the strongest weights instead of the weakest."""

from __future__ import annotations

from typing import Any

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wn_largest_norm"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        norm_fn = self.norm_fn
        self.norm_fn = lambda weight: _descending(norm_fn(weight))


def _descending(scores: torch.Tensor) -> torch.Tensor:
    """BUG: sorts by descending score (as topk(largest=True) would), so the highest norms are selected."""
    return -scores
