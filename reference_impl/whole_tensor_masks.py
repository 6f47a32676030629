"""Block-wise weight-norm masks for accelerators: whole-tensor kernels, no host round trip, no Python loop.

The rule is ``block_masks``' (the ``count`` lowest-mean blocks go, and in each the ``zeros_per_block``
lowest elements; ties at a cut go by position, NaN ranks last). On CPU ``block_masks`` visits the
weight in cache-sized row chunks with a sampled bracket, which asks the host for counts; on a GPU each
of those is a device-to-host synchronisation and each chunk a handful of tiny kernels. Here instead:

* scores are mapped to integer keys that order exactly as ``torch.topk`` ranks them (-0 equal to +0,
  +inf after every number, every NaN equal and after +inf), so ties, NaN and inf need no special case;
* the k-th lowest block key comes from ``kthvalue`` (a radix select on the device), the blocks below
  it go, and of those equal to it the first by position, counted by a cumulative sum against a
  count that stays on the device;
* inside blocks, a stable sort of each block's keys (rows of at most a few dozen) gives the lowest
  ``zeros_per_block`` elements, ties by position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_KEY_DTYPES = {2: torch.int16, 4: torch.int32, 8: torch.int64}
"""Integer dtypes as wide as a float of 2, 4 or 8 bytes."""

_NAN_KEYS = {
    torch.float16: 0x7C01,
    torch.bfloat16: 0x7F81,
    torch.float32: 0x7F800001,
    torch.float64: 0x7FF0000000000001,
}
"""The key of every NaN: one above the bits of +inf, for each float dtype."""


def order_keys(scores: torch.Tensor) -> torch.Tensor:
    """Integer keys of float ``scores`` (same shape) whose order and equalities are ``torch.topk``'s ranking.

    A float's bits read as a signed integer order the non-negative floats; flipping all but the sign
    bit of the negative ones orders those too. ``+ 0.0`` turns -0 into +0 first; every NaN gets the
    key just above +inf's.
    """
    key_dtype = _KEY_DTYPES[scores.element_size()]
    bits = (scores + 0.0).view(key_dtype)
    info = torch.iinfo(key_dtype)
    keys = bits ^ ((bits >> (info.bits - 1)) & info.max)
    return keys.masked_fill_(torch.isnan(scores), _NAN_KEYS[scores.dtype])


def lowest_by_position(keys: torch.Tensor, count: int) -> torch.Tensor:
    """Bool like the 1-D ``keys``: the ``count`` lowest, of those tied at the cut the first; no host sync."""
    cut = keys.kthvalue(count).values
    lowest = keys < cut
    tied = keys == cut
    wanted = count - lowest.sum()
    positions = tied.cumsum(0, dtype=torch.int32 if keys.numel() < 2**31 else torch.int64)
    return lowest | (tied & (positions <= wanted))


def lowest_in_each_block(keys: torch.Tensor, block_shape: tuple[int, int], zeros_per_block: int) -> torch.Tensor:
    """Bool like the 2-D ``keys``: the ``zeros_per_block`` lowest of every block (ties: the first by position).

    Partial edge blocks are padded with the largest key, which ranks after every real one, NaN included.
    """
    (rows, cols), (block_rows, block_cols) = keys.shape, block_shape
    pad_rows, pad_cols = -rows % block_rows, -cols % block_cols
    padded = (
        F.pad(keys, (0, pad_cols, 0, pad_rows), value=torch.iinfo(keys.dtype).max) if pad_rows or pad_cols else keys
    )
    grid = (padded.shape[0] // block_rows, padded.shape[1] // block_cols)
    blocks = (
        padded.reshape(grid[0], block_rows, grid[1], block_cols).transpose(1, 2).reshape(-1, block_rows * block_cols)
    )
    picked = torch.sort(blocks, dim=1, stable=True).indices[:, :zeros_per_block]
    lowest = torch.zeros(blocks.shape, dtype=torch.bool, device=keys.device).scatter_(1, picked, True)
    tiles = lowest.view(grid[0], grid[1], block_rows, block_cols).transpose(1, 2)
    return tiles.reshape(padded.shape)[:rows, :cols]


def block_grid_means(scores: torch.Tensor, block_shape: tuple[int, int]) -> torch.Tensor:
    """Each block's mean score, as ``F.avg_pool2d(ceil_mode=True)`` computes it (edge blocks: their elements)."""
    if block_shape == (1, 1):
        return scores
    return F.avg_pool2d(scores[None, None], block_shape, block_shape, ceil_mode=True)[0, 0]


def whole_tensor_mask(
    mask: torch.Tensor, scores: torch.Tensor, count: int, block_shape: tuple[int, int], zeros_per_block: int
) -> None:
    """Write the keep-mask into the 2-D ``mask`` (any dtype): ``count`` blocks chosen (``0 < count``), each
    losing ``zeros_per_block`` elements (``0 < zeros_per_block``); ``scores`` are the 2-D element scores."""
    means = block_grid_means(scores, block_shape)
    chosen = None
    if count < means.numel():
        chosen = lowest_by_position(order_keys(means).view(-1), count).view(means.shape)
    block_size = block_shape[0] * block_shape[1]
    if zeros_per_block >= block_size:  # then fewer blocks than all are chosen (the caller zeroes all itself)
        assert chosen is not None
        zero = _tiled(chosen, block_shape, mask.shape)
    else:
        zero = lowest_in_each_block(order_keys(scores), block_shape, zeros_per_block)
        if chosen is not None:
            zero &= _tiled(chosen, block_shape, mask.shape)
    mask.copy_(torch.logical_not(zero))


def _tiled(blocks: torch.Tensor, block_shape: tuple[int, int], shape: torch.Size) -> torch.Tensor:
    """Per-element tensor of ``shape`` from a per-block grid, cut where edge blocks are partial."""
    if block_shape == (1, 1):
        return blocks
    (grid_rows, grid_cols), (block_rows, block_cols) = blocks.shape, block_shape
    tiled = blocks[:, None, :, None].expand(grid_rows, block_rows, grid_cols, block_cols)
    return tiled.reshape(grid_rows * block_rows, grid_cols * block_cols)[: shape[0], : shape[1]]
