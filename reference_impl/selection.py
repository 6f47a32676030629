"""Picking the k lowest of many scores in linear time; of scores tied at the cut, the first by position.

The k lowest of n scores are taken in the order (score, position): every score below the k-th lowest
value ``v``, then of the scores equal to ``v`` the first by position, as many as make k. Scores rank
as ``torch.topk`` ranks them: finite, then +inf, then NaN last. Which of several exactly tied scores
go is no part of the contract (``torch.ao.pruning`` leaves it to the order ``torch.topk``'s partial
sort happens to leave them in, which differs between CPU and CUDA); position is a rule that needs no
sort and is the same on every device.

* ``lowest_cut``: ``v`` is found without a sort: a small sample brackets it, one pass counts the
  scores at or below the bracket and collects the few strictly inside it, and ``kthvalue`` picks
  ``v`` among those (or ``v`` is an end of the bracket, shared by many scores: counted, not copied).
  When ``v`` is tied across the cut, the one piece of the scores holding the last tied score taken
  is read again, for that score's position.
* ``lowest_in_rows``: the ``count`` lowest entries of short rows (the elements of one block) by a
  sorting network, which vectorizes over millions of rows where a sort works row by row; in rows with
  a tie across the cut, the first of the tied entries. Rows holding a NaN, and rows too long for the
  network, are ranked by a stable sort.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

NETWORK_MAX_SIZE = 32
"""Longest rows sorted by a network of ``size * (size - 1) / 2`` vectorized compare-exchanges; longer
rows go to a stable sort (measured on CPU against ``torch.topk``: the network is 4x faster at 4
columns, even near 40)."""

BRACKET_SIGMAS = (6.0, 48.0, math.inf)
"""Half-widths of the bracket, in standard deviations of the sample quantile. The second try is wider
for samples that misjudge the distribution (weights whose rows differ in scale, for example); the last
is unbounded, so exact whatever the sample, at the cost of a copy of every finite score."""

Piece = Callable[[], torch.Tensor]
"""Computes one piece of the scores (any shape), afresh each time it is called."""


@dataclass(frozen=True)
class Cut:
    """The k lowest of some scores, as a rule any piece of them can apply (``lowest``).

    Positions count over all the scores flattened in order: piece after piece, each in row-major order.
    """

    value: float
    """The k-th lowest score; NaN when the cut falls among the NaN scores."""
    last_tied: int | None
    """Position of the last score equal to ``value`` that is among the k lowest; None: all of them are."""

    def lowest(self, scores: torch.Tensor, start: int) -> torch.Tensor:
        """Bool like ``scores``, the piece at positions ``start`` on: True at the scores among the k lowest."""
        size = scores.numel()
        taken = size if self.last_tied is None else self.last_tied + 1 - start  # leading positions whose ties go
        if taken >= size:
            return _at_or_below(scores, self.value)
        lowest = _below(scores, self.value)
        if taken > 0:
            lowest.view(-1)[:taken].logical_or_(_equal(scores.reshape(-1)[:taken], self.value))
        return lowest


def lowest_cut(pieces: Sequence[Piece], sample: torch.Tensor, k: int, n: int) -> Cut:
    """The ``k`` lowest (``0 < k < n``) of the ``n`` scores that ``pieces`` hold; ties at the cut by position.

    ``sample`` is a subset of the scores used to bracket the k-th lowest. One pass counts the scores
    at or below the bracket and collects those strictly inside it; the k-th lowest is found among
    those, or is an end of the bracket (scores of few distinct values: one more pass counts that
    value, which many scores may share, instead of copying it). A tie across the cut costs a read of
    the piece holding the last tied score taken. NaN scores are never inside a bracket nor at or
    below it, so they rank last.
    """
    sample = sample.flatten()
    for sigmas in BRACKET_SIGMAS:
        low, high = _bracket(sample, k / n, sigmas)
        up_to_low = torch.zeros((), dtype=torch.int64, device=sample.device)
        inside, sizes = [], []
        for piece in pieces:
            scores = piece()
            at_or_below = scores <= low
            up_to_low += torch.count_nonzero(at_or_below)
            inside.append(scores[at_or_below.logical_not_().logical_and_(scores < high)])  # NaN: never < high
            sizes.append(scores.numel())
        rank = k - int(up_to_low)
        if 1 <= rank <= sum(candidates.numel() for candidates in inside):
            return _cut_inside(pieces, sizes, inside, rank)
        end = low if rank < 1 else high
        below_end, up_to_end = _counts_around(pieces, end)
        if below_end < k <= up_to_end:  # the k-th lowest is this end of the bracket
            return _cut_at(pieces, sizes, end, k - below_end, up_to_end - below_end)
        if end == math.inf and up_to_end < k:  # fewer than k scores are not NaN: the cut falls among the NaNs
            return _cut_at(pieces, sizes, math.nan, k - up_to_end, n - up_to_end)
        # the k-th lowest lies outside the bracket: widen it
    raise AssertionError("unreachable: the last bracket holds every score")


def _bracket(sample: torch.Tensor, fraction: float, sigmas: float) -> tuple[float, float]:
    """Sample quantiles around ``fraction``, ``sigmas`` binomial standard deviations (plus 2) either side.

    Beyond the sample's ends the bracket is open (-inf / +inf), so it always holds the extremes; an
    infinite ``sigmas`` opens both ends. A NaN quantile (NaN ranks last) stands for +inf: the bracket
    then holds the +inf scores, and every finite one counts as below it.
    """
    if math.isinf(sigmas):
        return -math.inf, math.inf
    size = sample.numel()
    spread = sigmas * math.sqrt(size * fraction * (1.0 - fraction)) + 2.0
    low_rank = math.floor(fraction * size - spread)
    high_rank = math.ceil(fraction * size + spread)
    low = sample.kthvalue(low_rank).values.item() if low_rank >= 1 else -math.inf
    high = sample.kthvalue(high_rank).values.item() if high_rank <= size else math.inf
    return tuple(math.inf if math.isnan(end) else end for end in (low, high))  # type: ignore[return-value]


def _cut_inside(pieces: Sequence[Piece], sizes: list[int], inside: list[torch.Tensor], rank: int) -> Cut:
    """The cut at the ``rank``-th lowest of the candidates ``inside`` the bracket (one tensor per piece)."""
    candidates = torch.cat(inside)
    value = torch.kthvalue(candidates, rank).values
    ties = rank - int(torch.count_nonzero(candidates < value))  # how many scores equal to value are taken
    tied = torch.stack([torch.count_nonzero(piece_candidates == value) for piece_candidates in inside]).tolist()
    if ties == sum(tied):
        return Cut(value.item(), None)
    first = 0
    while ties > tied[first]:  # the piece holding the last tied score taken
        ties -= tied[first]
        first += 1
    return Cut(value.item(), _position_of_tied(pieces, sizes, first, value.item(), ties))


def _cut_at(pieces: Sequence[Piece], sizes: list[int], value: float, ties: int, tied: int) -> Cut:
    """The cut at ``value``, which ``tied`` scores equal (NaN: are NaN), the first ``ties`` of them taken."""
    return Cut(value, None if ties == tied else _position_of_tied(pieces, sizes, 0, value, ties))


def _counts_around(pieces: Sequence[Piece], value: float) -> tuple[int, int]:
    """How many scores are below ``value``, and how many at or below it: one pass."""
    counts = []
    for piece in pieces:
        scores = piece()
        counts.append(torch.stack([torch.count_nonzero(scores < value), torch.count_nonzero(scores <= value)]))
    below, up_to = torch.stack(counts).sum(0).tolist()
    return below, up_to


def _position_of_tied(pieces: Sequence[Piece], sizes: list[int], first: int, value: float, nth: int) -> int:
    """Position of the ``nth`` score equal to ``value`` (NaN: the nth NaN) counting from piece ``first`` on."""
    start = sum(sizes[:first])
    for piece, size in zip(pieces[first:], sizes[first:], strict=True):
        positions = torch.nonzero(_equal(piece().reshape(-1), value)).squeeze(1)
        if nth <= positions.numel():
            return start + int(positions[nth - 1])
        nth -= positions.numel()
        start += size
    raise AssertionError(f"fewer scores equal to {value} than counted")


def _below(scores: torch.Tensor, value: float) -> torch.Tensor:
    return ~torch.isnan(scores) if math.isnan(value) else scores < value


def _equal(scores: torch.Tensor, value: float) -> torch.Tensor:
    return torch.isnan(scores) if math.isnan(value) else scores == value


def _at_or_below(scores: torch.Tensor, value: float) -> torch.Tensor:
    if math.isnan(value):
        return torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    return scores <= value


def lowest_in_rows(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Bool ``(rows, size)``: True at the ``count`` lowest of each row; of entries tied at the cut, the first.

    ``0 < count < size``. A sorting network over the columns finds each row's ``count``-th lowest
    value ``t``; the entries ``<= t`` are the answer unless the next value equals ``t`` (a tie
    straddles the cut: the entries below ``t``, then the first equal to it) or the row holds a NaN,
    which min and max spread through the network (a stable sort ranks the row).
    """
    if scores.shape[1] > NETWORK_MAX_SIZE:
        return _stably_lowest(scores, count)
    columns = _sorted_columns(scores)
    cut = columns[count - 1]
    lowest = scores <= cut[:, None]
    tied = cut == columns[count]
    with_nan = torch.isnan(scores).any(dim=1) if torch.isnan(scores.sum()) else None
    if with_nan is not None:
        tied &= ~with_nan
    if torch.count_nonzero(tied):
        rows = torch.nonzero(tied).squeeze(1)
        lowest[rows] = _first_of_tied(scores[rows], cut[rows], count)
    if with_nan is not None and torch.count_nonzero(with_nan):
        rows = torch.nonzero(with_nan).squeeze(1)
        lowest[rows] = _stably_lowest(scores[rows], count)
    return lowest


def _first_of_tied(scores: torch.Tensor, cut: torch.Tensor, count: int) -> torch.Tensor:
    """Bool ``(rows, size)``: the entries below each row's ``cut``, then the first equal to it, ``count`` in all."""
    lowest = scores < cut[:, None]
    tied = scores == cut[:, None]
    wanted = count - lowest.sum(dim=1, keepdim=True)
    return lowest | (tied & (tied.cumsum(dim=1, dtype=torch.uint8) <= wanted))  # rows are at most 32 long


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


def _stably_lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Bool ``(rows, size)``: the first ``count`` of each row sorted stably (NaN last, equal entries in order)."""
    picked = torch.sort(scores, dim=1, stable=True).indices[:, :count]
    return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter_(1, picked, True)
