"""Pure mask arithmetic for block-wise weight-norm sparsity; no modules, no state.

Terminology: the weight (viewed as 2-D) is tiled from its top-left corner into blocks of
``block_shape``; blocks on the bottom and right edges may be partial. A block's score is the mean
of its elements' scores (over the elements that exist). ``sparsity_level`` selects the fraction of
lowest-scoring blocks, and within each selected block the ``zeros_per_block`` lowest-scoring
elements are zeroed (all of them when ``zeros_per_block`` equals the block size).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def blocks_to_select(sparsity_level: float, num_blocks: int) -> int:
    """How many blocks a level selects: ``round(level * n)``, all at level >= 1, never all below it.

    Below a level of 1 at least one block always survives (torch's rule, kept for mask parity);
    ``round`` is Python's round-half-to-even, also as torch does.
    """
    if sparsity_level <= 0:
        return 0
    if sparsity_level >= 1:
        return num_blocks
    return max(0, min(num_blocks - 1, round(sparsity_level * num_blocks)))


def _pad_to_blocks(scores: torch.Tensor, block_shape: tuple[int, int], fill: float) -> torch.Tensor:
    rows, cols = scores.shape
    block_rows, block_cols = block_shape
    pad_rows = -rows % block_rows
    pad_cols = -cols % block_cols
    if pad_rows or pad_cols:
        scores = F.pad(scores, (0, pad_cols, 0, pad_rows), value=fill)
    return scores


def _as_blocks(padded: torch.Tensor, block_shape: tuple[int, int]) -> torch.Tensor:
    """View a padded (R, C) tensor as (num_blocks, block_rows * block_cols), blocks in row-major order."""
    block_rows, block_cols = block_shape
    grid_rows, grid_cols = padded.shape[0] // block_rows, padded.shape[1] // block_cols
    blocks = padded.reshape(grid_rows, block_rows, grid_cols, block_cols).transpose(1, 2)
    return blocks.reshape(grid_rows * grid_cols, block_rows * block_cols)


def _from_blocks(blocks: torch.Tensor, block_shape: tuple[int, int], padded_shape: torch.Size) -> torch.Tensor:
    block_rows, block_cols = block_shape
    grid_rows, grid_cols = padded_shape[0] // block_rows, padded_shape[1] // block_cols
    grid = blocks.reshape(grid_rows, grid_cols, block_rows, block_cols).transpose(1, 2)
    return grid.reshape(padded_shape)


def block_mean_scores(scores: torch.Tensor, block_shape: tuple[int, int]) -> torch.Tensor:
    """Mean score of every block, counting only the elements inside the tensor (edge blocks too)."""
    sums = _as_blocks(_pad_to_blocks(scores, block_shape, 0.0), block_shape).sum(dim=1)
    rows, cols = scores.shape
    block_rows, block_cols = block_shape
    rows_in = torch.full((math.ceil(rows / block_rows),), block_rows, device=scores.device)
    cols_in = torch.full((math.ceil(cols / block_cols),), block_cols, device=scores.device)
    rows_in[-1] = rows - block_rows * (len(rows_in) - 1)
    cols_in[-1] = cols - block_cols * (len(cols_in) - 1)
    counts = (rows_in[:, None] * cols_in[None, :]).flatten()
    return sums / counts.to(sums.dtype)


def weight_norm_mask(
    scores: torch.Tensor,
    sparsity_level: float,
    block_shape: tuple[int, int],
    zeros_per_block: int,
) -> torch.Tensor:
    """The bool keep-mask (same shape as 2-D ``scores``) for the rule in this module's docstring."""
    block_size = block_shape[0] * block_shape[1]
    keep = torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    if zeros_per_block == 0:
        return keep
    block_means = block_mean_scores(scores, block_shape)
    count = blocks_to_select(sparsity_level, block_means.numel())
    if count == 0:
        return keep
    selected = torch.topk(block_means, count, largest=False, sorted=False).indices
    padded_keep = _as_blocks(_pad_to_blocks(keep, block_shape, True), block_shape).clone()
    if zeros_per_block >= block_size:
        padded_keep[selected] = False
    else:
        candidates = _as_blocks(_pad_to_blocks(scores, block_shape, math.inf), block_shape)[selected]
        lowest = torch.topk(candidates, zeros_per_block, dim=1, largest=False, sorted=False).indices
        padded_keep[selected] = padded_keep[selected].scatter(1, lowest, False)
    rows, cols = scores.shape
    padded_shape = _pad_to_blocks(scores, block_shape, 0.0).shape
    return _from_blocks(padded_keep, block_shape, padded_shape)[:rows, :cols]
