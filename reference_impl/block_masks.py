"""Pure mask arithmetic for block-wise weight-norm sparsity; no modules, no state.

Terminology: the weight (viewed as 2-D) is tiled from its top-left corner into blocks of
``block_shape``; blocks on the bottom and right edges may be partial. A block's score is the mean
of its elements' scores (over the elements that exist). ``sparsity_level`` selects the fraction of
lowest-scoring blocks, and within each selected block the ``zeros_per_block`` lowest-scoring
elements are zeroed (all of them when ``zeros_per_block`` equals the block size).

How, and why so (issue #7). ``torch.ao.pruning`` ranks the blocks with a sorted ``topk`` over a
repeated copy of their means and builds the mask through scatter and fold, allocating several
weight-sized temporaries whose fresh pages cost as much as the arithmetic. Here instead:

* the weight is visited in row chunks of about ``CHUNK_ELEMENTS``: a chunk's temporaries stay in
  cache and are recycled by the allocator, and its part of the mask is written in place;
* the selected blocks are those whose mean is below the k-th lowest mean, plus as many of the blocks
  whose mean equals it as make k, the first in row-major order; the k-th lowest is found in linear
  time (``selection.lowest_cut``), and the lowest elements inside a block by a sorting network
  (``selection.lowest_in_rows``), ties there also going by position;
* block means are summed exactly as ``F.avg_pool2d`` sums them, so equal means are equal bit for
  bit. Which of several exactly tied blocks (or elements) go is no part of the contract: torch leaves
  it to ``torch.topk``'s partial sort (it differs between CPU and CUDA); the first by position costs no
  sort and no weight-sized temporary.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .selection import keep_in_rows, lowest_cut
from .whole_tensor_masks import whole_tensor_mask

ScoreRows = Callable[["slice | torch.Tensor"], torch.Tensor]
"""Element scores (2-D) of some rows of the 2-D weight: a slice, or a 1-D index of increasing rows."""

BlockChoice = Callable[..., "torch.Tensor | None"]
"""``(chunk_rows, chunk_scores or None, target=None)``: a chunk's blocks' verdicts, 1 kept, 0 zeroed (None: all
zeroed), written into ``target`` (the chunk's rows of the mask) where it can hold them as they are."""

CHUNK_ELEMENTS = 1 << 18
"""Elements per row chunk: 1 MiB of float32 scores. A chunk's temporaries (the scores and two
comparison results of its size) stay in cache, and the allocator recycles them instead of faulting in
fresh pages; much smaller chunks pay per-op overhead, much larger ones cache misses."""

SAMPLE_BLOCK_ROWS = 256
"""Evenly spaced block rows whose block means are sampled to bracket the k-th lowest mean."""

SAMPLE_SIZE = 1 << 16
"""Block means in that sample: its quantiles are within ~0.2% of the true ones (binomial error). A larger
sample narrows the bracket around the cut, but ``kthvalue`` on CPU costs about as much per sampled mean
as the whole pass saves per weight element."""

CHUNKED_DEVICES = ("cpu",)
"""Device types whose masks are made chunk by chunk, with a sampled bracket that asks the host for counts.
Elsewhere (GPUs) ``whole_tensor_masks`` makes them in whole-tensor kernels with no host round trip."""

_BOOL_ROW_AS_INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}
"""Integer dtypes as wide as a row of 2, 4 or 8 bools."""


def copy_verdict(target: torch.Tensor, keep: torch.Tensor) -> None:
    """``target.copy_(keep)`` for a bool ``keep``: 1 / 0 (True / False) in ``target``'s dtype.

    Read through a ``uint8`` view (the same bytes, 0 or 1): on CPU, torch converts uint8 to float
    about 6x faster than bool to float.
    """
    target.copy_(keep.view(torch.uint8) if target.dtype != torch.bool else keep)


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


def row_chunks(rows: int, cols: int, block_rows: int) -> list[slice]:
    """Consecutive row ranges of about ``CHUNK_ELEMENTS`` elements, each a whole number of block rows."""
    step = block_rows * max(1, CHUNK_ELEMENTS // (block_rows * max(cols, 1)))
    return [slice(start, min(rows, start + step)) for start in range(0, rows, step)]


def block_means(scores: torch.Tensor, block_shape: tuple[int, int]) -> torch.Tensor:
    """Mean score of every block of 2-D ``scores`` (edge blocks: over the elements they have).

    Bit for bit what torch gets from ``F.avg_pool2d(..., ceil_mode=True)`` (so means tie exactly
    where torch's do): its kernel adds a block's elements one by one in row-major order, then
    divides once, and so do we, over strided views, 3-4x faster. Tensors with partial edge blocks
    go to ``avg_pool2d`` itself.
    """
    (rows, cols), (block_rows, block_cols) = scores.shape, block_shape
    if block_shape == (1, 1):
        return scores
    if rows % block_rows or cols % block_cols:
        return F.avg_pool2d(scores[None, None], block_shape, block_shape, ceil_mode=True)[0, 0]
    blocks = scores.view(rows // block_rows, block_rows, cols // block_cols, block_cols)
    offsets = [(i, j) for i in range(block_rows) for j in range(block_cols)]
    total = blocks[:, 0, :, 0] + blocks[:, offsets[1][0], :, offsets[1][1]]
    for i, j in offsets[2:]:
        total += blocks[:, i, :, j]
    return total.div_(len(offsets))


def expand_blocks(blocks: torch.Tensor, block_shape: tuple[int, int], shape: torch.Size) -> torch.Tensor:
    """Per-element tensor of ``shape`` from a per-block grid (edge blocks cut where they are partial)."""
    if block_shape == (1, 1):
        return blocks
    (grid_rows, grid_cols), (block_rows, block_cols) = blocks.shape, block_shape
    tiled = blocks[:, None, :, None].expand(grid_rows, block_rows, grid_cols, block_cols)
    return tiled.reshape(grid_rows * block_rows, grid_cols * block_cols)[: shape[0], : shape[1]]


def tile_blocks(target: torch.Tensor, blocks: torch.Tensor, block_shape: tuple[int, int]) -> None:
    """``target[i, j] = blocks[i // block_rows, j // block_cols]`` for a 2-D bool ``target``, in place.

    When a block row is 2, 4 or 8 bools wide, those bools are one 16, 32 or 64-bit integer, and an
    all-True row is the integer ``0x0101...01`` (in either byte order): one vectorized multiply per
    block then replaces a broadcast copy that loops element by element, 5-10x slower.
    """
    (rows, cols), (block_rows, block_cols) = target.shape, block_shape
    word = _BOOL_ROW_AS_INT.get(block_cols)
    if rows % block_rows or cols % block_cols or word is None or not target.is_contiguous():
        target.copy_(expand_blocks(blocks, block_shape, target.shape))
        return
    all_true = int.from_bytes(b"\x01" * block_cols, "little")
    words = (blocks.to(word) * all_true)[:, None, :]
    target.view(word).view(rows // block_rows, block_rows, cols // block_cols).copy_(words)


def lowest_in_blocks(scores: torch.Tensor, block_shape: tuple[int, int], zeros_per_block: int) -> torch.Tensor:
    """Bool like ``scores``: True at the ``zeros_per_block`` lowest-scoring elements of every block."""
    return keep_in_blocks(scores, block_shape, zeros_per_block) == 0


def keep_in_blocks(
    scores: torch.Tensor, block_shape: tuple[int, int], zeros_per_block: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Like ``scores`` (its dtype): 0 at the ``zeros_per_block`` lowest-scoring elements of every block, 1 elsewhere.

    Written into ``out`` when it is given and can hold the verdict as it is computed (same shape and
    dtype, contiguous, whole one-row blocks); otherwise a new tensor is returned, and ``out`` is untouched.

    Partial edge blocks are padded with +inf scores, so the elements they lack rank last. A real +inf
    score would tie with that padding and could lose its place to it, leaving an edge block short of
    zeros; where padding is needed, real +inf scores are lowered to the dtype's largest finite value
    first, which keeps their order against every other real score.
    """
    if (scores.shape[0] % block_shape[0] or scores.shape[1] % block_shape[1]) and bool(torch.isposinf(scores).any()):
        scores = scores.masked_fill(torch.isposinf(scores), torch.finfo(scores.dtype).max)
    padded = _pad_to_blocks(scores, block_shape, math.inf)
    direct = (
        out is not None
        and padded is scores
        and block_shape[0] == 1
        and out.dtype == scores.dtype
        and out.shape == scores.shape
        and out.is_contiguous()
    )
    keep_rows = out.view(-1, block_shape[1]) if direct else None
    keep = keep_in_rows(_as_blocks(padded, block_shape), zeros_per_block, out=keep_rows)
    return _from_blocks(keep, block_shape, padded.shape)[: scores.shape[0], : scores.shape[1]]


def weight_norm_mask(
    mask: torch.Tensor,
    scores: ScoreRows,
    sparsity_level: float,
    block_shape: tuple[int, int],
    zeros_per_block: int,
) -> None:
    """Write the keep-mask of the rule in this module's docstring into the contiguous 2-D ``mask``, in place.

    ``mask`` may have any dtype: it receives 1 (kept) and 0 (zeroed), or True and False. Each row
    chunk's verdict is computed as bool and written into its rows of ``mask`` (directly when ``mask``
    is bool), so no weight-sized temporary is made whatever the dtype. ``scores(rows)`` gives the
    element scores of those rows; every chunk's scores are read before that chunk of ``mask`` is
    written, so they may be computed from the mask being replaced.
    """
    rows, cols = mask.shape
    block_size = block_shape[0] * block_shape[1]
    grid = (math.ceil(rows / block_shape[0]), math.ceil(cols / block_shape[1]))
    count = blocks_to_select(sparsity_level, grid[0] * grid[1])
    if zeros_per_block == 0 or count == 0:
        mask.fill_(True)
        return
    if count == grid[0] * grid[1] and zeros_per_block >= block_size:
        mask.fill_(False)
        return
    if mask.device.type not in CHUNKED_DEVICES:
        whole_tensor_mask(mask, scores(slice(0, rows)), count, block_shape, zeros_per_block)
        return
    chunks = row_chunks(rows, cols, block_shape[0])
    kept_blocks = _choose_blocks(scores, chunks, block_shape, grid, count)
    for chunk_rows in chunks:
        target = mask[chunk_rows]
        if zeros_per_block >= block_size:  # whole blocks go: the blocks' verdict, tiled
            _write_blocks(target, kept_blocks(chunk_rows, None, target), block_shape)
            continue
        chunk_scores = scores(chunk_rows)
        kept = kept_blocks(chunk_rows, chunk_scores)
        keep = keep_in_blocks(chunk_scores, block_shape, zeros_per_block, out=target if kept is None else None)
        if kept is not None:  # elements of the blocks that stay are kept whatever their rank
            keep = torch.maximum(keep, expand_blocks(kept, block_shape, chunk_scores.shape))
        if keep.data_ptr() != target.data_ptr():
            target.copy_(keep)


def _write_blocks(target: torch.Tensor, kept: torch.Tensor | None, block_shape: tuple[int, int]) -> None:
    """Write a chunk's per-block verdict (1 / 0 in any dtype; ``None``: none kept) into its rows of the mask."""
    if kept is None:
        target.fill_(False)
    elif block_shape == (1, 1):
        if kept is not target:
            target.copy_(kept)
    elif target.dtype == torch.bool:
        tile_blocks(target, kept.bool(), block_shape)
    else:
        keep = torch.empty(target.shape, dtype=torch.bool, device=target.device)
        tile_blocks(keep, kept.bool(), block_shape)
        copy_verdict(target, keep)


def _choose_blocks(
    scores: ScoreRows, chunks: list[slice], block_shape: tuple[int, int], grid: tuple[int, int], count: int
) -> BlockChoice:
    """Which blocks stay when the ``count`` lowest-mean go (of those tied at the cut, the first in row-major order)."""
    num_blocks = grid[0] * grid[1]
    if count == num_blocks:
        return lambda chunk_rows, chunk_scores, target=None: None
    sample = _sample_means(scores, block_shape, grid, chunks[-1].stop)
    means = _chunk_means(scores, block_shape)
    cut = lowest_cut([lambda rows=chunk_rows: means(rows) for chunk_rows in chunks], sample, count, num_blocks)
    block_rows, grid_cols = block_shape[0], grid[1]

    def kept(chunk_rows: slice, chunk_scores: torch.Tensor | None, target: torch.Tensor | None = None) -> torch.Tensor:
        """The verdict, written into ``target`` when it can hold it directly (1x1 blocks, the scores' dtype)."""
        chunk_means = means(chunk_rows, chunk_scores)
        direct = target is not None and target.dtype == chunk_means.dtype and target.shape == chunk_means.shape
        out = target if direct and target.is_contiguous() else None
        return cut.keep(chunk_means, chunk_rows.start // block_rows * grid_cols, out=out)

    return kept


MEANS_KEPT_FROM = 4
"""Blocks of at least this many elements have their means kept between the passes over the weight: at most a
quarter of the float32 scores' bytes (half of a float16 weight's), where recomputing them costs a pass."""


def _chunk_means(scores: ScoreRows, block_shape: tuple[int, int]) -> Callable[..., torch.Tensor]:
    """``means(chunk_rows, chunk_scores=None)``: a chunk's block means, computed once per chunk for large blocks.

    Blocks smaller than ``MEANS_KEPT_FROM`` are recomputed from the scores on every call (from
    ``chunk_scores`` when the caller has them): keeping them would cost as much memory as the weight.
    """
    block_rows = block_shape[0]

    def fresh(chunk_rows: slice, chunk_scores: torch.Tensor | None = None) -> torch.Tensor:
        return block_means(scores(chunk_rows) if chunk_scores is None else chunk_scores, block_shape)

    if block_shape[0] * block_shape[1] < MEANS_KEPT_FROM:
        return fresh
    kept: dict[int, torch.Tensor] = {}

    def cached(chunk_rows: slice, chunk_scores: torch.Tensor | None = None) -> torch.Tensor:
        start = chunk_rows.start // block_rows
        if start not in kept:
            kept[start] = fresh(chunk_rows, chunk_scores)
        return kept[start]

    return cached


def _sample_means(scores: ScoreRows, block_shape: tuple[int, int], grid: tuple[int, int], rows: int) -> torch.Tensor:
    """About ``SAMPLE_SIZE`` block means from ``SAMPLE_BLOCK_ROWS`` evenly spaced block rows."""
    block_rows = block_shape[0]
    grid_rows = torch.arange(0, grid[0], max(1, grid[0] // SAMPLE_BLOCK_ROWS))
    picked = (grid_rows[:, None] * block_rows + torch.arange(block_rows)).flatten()
    means = block_means(scores(picked[picked < rows]), block_shape).flatten()
    return means[:: max(1, math.ceil(means.numel() / SAMPLE_SIZE))]
