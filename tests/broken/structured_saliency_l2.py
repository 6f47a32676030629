"""SaliencyPruner ranks rows by their L2 norm instead of the L1 norm the contract names."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import with_globals

name = "broken-structured_saliency_l2"


def _l2_row_saliency(weight: torch.Tensor) -> torch.Tensor:
    """BUG: ``torch.linalg.vector_norm``'s default ord is 2."""
    return torch.linalg.vector_norm(weight.detach(), dim=tuple(range(1, weight.dim())))


class SaliencyPruner(reference_impl.SaliencyPruner):
    update_mask = with_globals(reference_impl.SaliencyPruner.update_mask, row_saliency=_l2_row_saliency)
