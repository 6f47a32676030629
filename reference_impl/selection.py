"""Picking the k lowest of many scores in linear time, choosing among ties exactly as ``torch.topk`` does.

``torch.ao.pruning`` selects with ``torch.topk(largest=False)``, which sorts (partially) everything it
is given. Two cheaper rules give the same answer whenever the answer is unique:

* ``separating_threshold``: the k lowest of n scores are the scores ``<= v`` for the k-th lowest
  value ``v``, unless ``v`` also occurs among the others. ``v`` is found without a sort: a small
  sample brackets it, one pass counts the scores below the bracket and collects the few inside it,
  and ``kthvalue`` picks ``v`` among those.
* ``lowest_in_rows``: the ``count`` lowest entries of short rows (the elements of one block) by a
  sorting network, which vectorizes over millions of rows where topk works row by row.

When the lowest k are *not* unique (the k-th and (k+1)-th lowest are equal, or a NaN takes part),
``torch.topk`` breaks the tie by the order its partial sort happens to leave the elements in, not by
index or by any rule that can be stated without running it. Both functions detect that case and
leave it to ``torch.topk`` on the very same values, so masks match torch's exactly, ties included.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

NETWORK_MAX_SIZE = 32
"""Longest rows sorted by a network of ``size * (size - 1) / 2`` vectorized compare-exchanges; longer
rows go to ``torch.topk`` (measured on CPU: the network is 4x faster at 4 columns, even near 40)."""

BRACKET_SIGMAS = (6.0, 48.0)
"""Half-widths of the bracket, in standard deviations of the sample quantile; the second try is wider
for samples that misjudge the distribution (weights whose rows differ in scale, for example)."""


def separating_threshold(
    batches: Callable[[], Iterable[torch.Tensor]], sample: torch.Tensor, k: int, n: int
) -> torch.Tensor | None:
    """A 0-dim ``v`` with exactly ``k`` of the ``n`` scores ``<= v``; ``None`` if there is none.

    ``batches()`` yields all the scores, in pieces of any shape, each time it is called (up to twice);
    ``sample`` is a subset of them used to bracket the k-th lowest. ``None`` means the k lowest are
    not unique (ties at the k-th lowest, NaN among them) or the sample missed twice: the caller then
    ranks with ``torch.topk``. NaN scores are never ``<= v``, so they rank last, as in ``torch.topk``.
    """
    sample = sample.flatten()
    for sigmas in BRACKET_SIGMAS:
        low, high = _bracket(sample, k / n, sigmas)
        below = torch.zeros((), dtype=torch.int64, device=sample.device)
        inside = []
        for scores in batches():
            below += torch.count_nonzero(scores < low)
            inside.append(scores[(scores >= low) & (scores <= high)])
        candidates = torch.cat(inside)
        rank = k - int(below)
        if not 1 <= rank <= candidates.numel():
            continue  # the k-th lowest lies outside the bracket: widen it
        threshold = torch.kthvalue(candidates, rank).values
        at_or_below = int(below) + int(torch.count_nonzero(candidates <= threshold))
        return threshold if at_or_below == k else None
    return None


def _bracket(sample: torch.Tensor, fraction: float, sigmas: float) -> tuple[float, float]:
    """Sample quantiles around ``fraction``, ``sigmas`` binomial standard deviations (plus 2) either side.

    Beyond the sample's ends the bracket is open (-inf / +inf), so it always holds the extremes.
    """
    size = sample.numel()
    spread = sigmas * math.sqrt(size * fraction * (1.0 - fraction)) + 2.0
    low_rank = math.floor(fraction * size - spread)
    high_rank = math.ceil(fraction * size + spread)
    low = sample.kthvalue(low_rank).values.item() if low_rank >= 1 else -math.inf
    high = sample.kthvalue(high_rank).values.item() if high_rank <= size else math.inf
    return low, high


def lowest_in_rows(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Bool ``(rows, size)``: True at the ``count`` lowest of each row, the entries ``torch.topk`` picks.

    ``0 < count < size``. A sorting network over the columns finds each row's ``count``-th lowest
    value ``t``; the entries ``<= t`` are the answer unless the next value equals ``t`` (a tie
    straddles the cut) or a NaN took part; those rows go to ``torch.topk`` itself.
    """
    if scores.shape[1] > NETWORK_MAX_SIZE:
        return _topk_lowest(scores, count)
    columns = _sorted_columns(scores)
    lowest = scores <= columns[count - 1][:, None]
    tied = columns[count - 1] == columns[count]  # a tie straddles the cut
    if torch.isnan(scores.sum()):  # a NaN (or inf - inf) somewhere: min/max spread NaN through its row
        tied |= lowest.sum(dim=1) != count
    if torch.count_nonzero(tied):
        ambiguous = torch.nonzero(tied).squeeze(1)
        lowest[ambiguous] = _topk_lowest(scores[ambiguous], count)
    return lowest


def _sorted_columns(scores: torch.Tensor) -> list[torch.Tensor]:
    """The columns of ``scores`` sorted row by row (odd-even transposition network), as 1-D tensors.

    ``size * (size - 1) / 2`` compare-exchanges, each a vectorized min and max over all rows. The
    first round reads the strided columns in place: cheaper than transposing them into copies.
    """
    columns = list(scores.unbind(dim=1))
    size = len(columns)
    for round_ in range(size):
        for i in range(round_ % 2, size - 1, 2):
            low, high = columns[i], columns[i + 1]
            columns[i], columns[i + 1] = torch.minimum(low, high), torch.maximum(low, high)
    return columns


def _topk_lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Bool ``(rows, size)``: True where ``torch.topk(largest=False)`` picks the ``count`` lowest of a row."""
    picked = torch.topk(scores, count, dim=1, largest=False).indices
    return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter_(1, picked, True)
