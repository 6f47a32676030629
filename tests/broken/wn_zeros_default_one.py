"""WeightNormSparsifier defaults zeros_per_block to 1 instead of the block size, so blocks are never zeroed whole."""

from __future__ import annotations

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wn_zeros_default_one"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def __init__(
        self,
        sparsity_level: float = 0.5,
        sparse_block_shape: tuple[int, int] = (1, 4),
        zeros_per_block: int | None = 1,  # BUG: None (meaning the whole block) was the right default
        norm: object = None,
    ) -> None:
        super().__init__(sparsity_level, sparse_block_shape, zeros_per_block, norm)
