"""FPGMPruner(dist=1) measures Euclidean distances: its L1 helper calls torch.cdist without p=1."""

from __future__ import annotations

import torch
from prunebench.reference_impl.structured import fpgm_pruner

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import with_globals

name = "broken-structured_fpgm_l1_is_l2"


def _l1_distance(rows: torch.Tensor) -> torch.Tensor:
    return torch.cdist(rows, rows)  # BUG: p defaults to 2


class FPGMPruner(reference_impl.FPGMPruner):
    __init__ = with_globals(reference_impl.FPGMPruner.__init__, _DISTANCES={**fpgm_pruner._DISTANCES, 1: _l1_distance})
