"""WeightNormSparsifier zeroes every block whose norm ties with the one at the cut, more than the level asks for."""

from __future__ import annotations

import dataclasses
from typing import Any

from prunebench.reference_impl import block_masks, selection, weight_norm_sparsifier

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import readable_path_only, with_globals

name = "broken-wn_all_ties_at_the_cut"


def _threshold_cut(*args: Any) -> selection.Cut:
    """BUG: a plain threshold ``mean <= v``: all the blocks tied at the k-th lowest mean go, not just enough of them."""
    return dataclasses.replace(selection.lowest_cut(*args), last_tied=None)


_choose_blocks = with_globals(block_masks._choose_blocks, lowest_cut=_threshold_cut)
_weight_norm_mask = with_globals(block_masks.weight_norm_mask, _choose_blocks=_choose_blocks)


class WeightNormSparsifier(weight_norm_sparsifier.WeightNormSparsifier):
    update_mask = with_globals(
        weight_norm_sparsifier.WeightNormSparsifier.update_mask,
        weight_norm_mask=_weight_norm_mask,
        _native_mask=readable_path_only,
    )
