"""WeightNormSparsifier truncates sparsity_level * blocks with int() instead of rounding it, zeroing a block too few."""

from __future__ import annotations

from prunebench.reference_impl import block_masks, weight_norm_sparsifier

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import readable_path_only, with_globals

name = "broken-wn_floor_block_count"


def _truncated_count(sparsity_level: float, num_blocks: int) -> int:
    """BUG: int() truncates where the contract rounds (level 0.25 of 6 blocks: 1 instead of 2)."""
    return max(0, min(num_blocks, int(sparsity_level * num_blocks)))


_weight_norm_mask = with_globals(block_masks.weight_norm_mask, blocks_to_select=_truncated_count)


class WeightNormSparsifier(weight_norm_sparsifier.WeightNormSparsifier):
    update_mask = with_globals(
        weight_norm_sparsifier.WeightNormSparsifier.update_mask,
        weight_norm_mask=_weight_norm_mask,
        _native_mask=readable_path_only,
    )
