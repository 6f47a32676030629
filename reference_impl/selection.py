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

BRACKET_SIGMAS = (4.0, 48.0, math.inf)
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
        return self.keep(scores, start) == 0

    def keep(self, scores: torch.Tensor, start: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """The complement of ``lowest`` as 1 (kept) and 0 (among the k lowest), in ``scores``' dtype or ``out``'s.

        Comparisons write numbers, not bools: on CPU a comparison into a float tensor is vectorized and
        several times faster than one into a bool tensor.
        """
        size = scores.numel()
        taken = size if self.last_tied is None else self.last_tied + 1 - start  # leading positions whose ties go
        keep = torch.empty(scores.shape, dtype=scores.dtype, device=scores.device) if out is None else out
        if math.isnan(self.value):  # every number is among the k lowest, and the first `taken` NaNs
            keep.copy_(torch.isnan(scores))
            if taken > 0:
                keep.view(-1)[: min(taken, size)] = False
            return keep
        if taken >= size:
            torch.le(scores, self.value, out=keep)
        else:
            torch.lt(scores, self.value, out=keep)
            if taken > 0:
                head = keep.view(-1)[:taken]
                head.logical_or_(scores.reshape(-1)[:taken] == self.value)
        return _complement(keep)


def _complement(indicator: torch.Tensor) -> torch.Tensor:
    """``1 - indicator`` (``~indicator`` for bools), in place."""
    return indicator.logical_not_() if indicator.dtype == torch.bool else torch.sub(1, indicator, out=indicator)


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
        up_to_low = torch.zeros((), dtype=torch.float64, device=sample.device)
        inside, sizes = [], []
        for piece in pieces:
            scores = piece()
            count, candidates = _count_and_band(scores, low, high)
            up_to_low += count
            inside.append(candidates)
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


EXACT_FLOAT_COUNT = 1 << 24
"""Up to this many 0/1 values, a float32 sum counts them exactly (integers up to 2^24 are representable)."""


def _count_and_band(scores: torch.Tensor, low: float, high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """How many ``scores`` are ``<= low`` (a 0-dim tensor: no host sync), and the scores ``low < s < high``.

    Comparisons write 0 / 1 in the scores' dtype and the band is their difference: on CPU that is
    several times faster than comparisons into bools and their logical combination. NaN is in neither.
    """
    at_or_below = torch.le(scores, low, out=torch.empty_like(scores))
    exact = scores.dtype == torch.float64 or scores.numel() <= EXACT_FLOAT_COUNT
    count = at_or_below.sum() if exact else at_or_below.sum(dtype=torch.float64)
    if not low < high:  # an empty bracket (a sample of ties)
        return count, scores.new_empty(0)
    band = torch.lt(scores, high, out=torch.empty_like(scores)).sub_(at_or_below)
    return count, _band_values(scores.reshape(-1), band.view(-1))


BAND_GROUP = 32
"""Consecutive scores whose band indicators are summed before the band is located: a bracket holds ~1% of the
scores, so most groups hold none of them, and ``nonzero`` (slow per element on CPU) scans one sum per group."""


def _band_values(scores: torch.Tensor, band: torch.Tensor) -> torch.Tensor:
    """The 1-D ``scores`` where the 1-D 0 / 1 ``band`` is 1: groups holding any, then those of them in the band."""
    whole = band.numel() // BAND_GROUP * BAND_GROUP
    groups = band[:whole].view(-1, BAND_GROUP)
    hit = torch.nonzero(groups.sum(1)).squeeze(1)
    picked_band = groups.index_select(0, hit).bool()
    picked = scores[:whole].view(-1, BAND_GROUP).index_select(0, hit)[picked_band]
    return torch.cat([picked, scores[whole:][band[whole:].bool()]])


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
    """Bool ``(rows, size)``: True at the ``count`` lowest of each row; of entries tied at the cut, the first."""
    return keep_in_rows(scores, count) == 0


def keep_in_rows(scores: torch.Tensor, count: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """``(rows, size)`` in ``scores``' dtype: 0 at the ``count`` lowest of each row (ties: the first), 1 elsewhere.

    ``0 < count < size``. A sorting network over the columns finds each row's ``count``-th lowest
    value ``t``; the entries ``<= t`` go unless the next value equals ``t`` (a tie straddles the cut:
    the entries below ``t``, then the first equal to it) or the row holds a NaN, which min and max
    spread through the network (a stable sort ranks the row). The verdict is compared into numbers,
    not bools (several times faster on CPU), and the rare rows with a tie or a NaN are redone apart.
    ``out`` (optional, of ``scores``' shape and dtype) receives the verdict.
    """
    if scores.shape[1] > NETWORK_MAX_SIZE:
        keep = _complement(_stably_lowest(scores, count).to(scores.dtype))
        return keep if out is None else out.copy_(keep)
    columns = _sorted_columns(scores, (count - 1, count))
    cut = columns[count - 1]
    keep = torch.gt(scores, cut[:, None], out=torch.empty_like(scores) if out is None else out)
    tied = cut == columns[count]
    with_nan = torch.isnan(scores).any(dim=1) if torch.isnan(scores.sum()) else None
    if with_nan is not None:
        tied &= ~with_nan
    if torch.count_nonzero(tied):
        rows = torch.nonzero(tied).squeeze(1)
        keep[rows] = _complement(_first_of_tied(scores[rows], cut[rows], count).to(scores.dtype))
    if with_nan is not None and torch.count_nonzero(with_nan):
        rows = torch.nonzero(with_nan).squeeze(1)
        keep[rows] = _complement(_stably_lowest(scores[rows], count).to(scores.dtype))
    return keep


def _first_of_tied(scores: torch.Tensor, cut: torch.Tensor, count: int) -> torch.Tensor:
    """Bool ``(rows, size)``: the entries below each row's ``cut``, then the first equal to it, ``count`` in all."""
    lowest = scores < cut[:, None]
    tied = scores == cut[:, None]
    wanted = count - lowest.sum(dim=1, keepdim=True)
    return lowest | (tied & (tied.cumsum(dim=1, dtype=torch.uint8) <= wanted))  # rows are at most 32 long


def _sorted_columns(scores: torch.Tensor, wanted: tuple[int, ...]) -> list[torch.Tensor | None]:
    """The columns of ``scores`` sorted row by row, as 1-D tensors (at least those at the ``wanted`` ranks).

    Four columns (the 2:4 pattern) go through the merge of two sorted pairs, computing only the ranks
    wanted; wider rows through an odd-even transposition network: ``size * (size - 1) / 2``
    compare-exchanges, each a vectorized min and max over all rows. The first round reads the strided
    columns in place: cheaper than transposing them into copies.
    """
    columns: list[torch.Tensor | None] = list(scores.unbind(dim=1))
    size = len(columns)
    if size == 4:
        return _sorted_four(columns, wanted)  # type: ignore[arg-type]
    for round_ in range(size):
        for i in range(round_ % 2, size - 1, 2):
            low, high = columns[i], columns[i + 1]
            columns[i], columns[i + 1] = torch.minimum(low, high), torch.maximum(low, high)
    return columns


def _sorted_four(columns: list[torch.Tensor], wanted: tuple[int, ...]) -> list[torch.Tensor | None]:
    """Ranks 0-3 of four columns, row by row (only the ``wanted`` ones; the others None): sort each pair,
    then the lowest of the lows, the highest of the highs, and the middle two from the inner pair."""
    low01, high01 = torch.minimum(columns[0], columns[1]), torch.maximum(columns[0], columns[1])
    low23, high23 = torch.minimum(columns[2], columns[3]), torch.maximum(columns[2], columns[3])
    ranks: list[torch.Tensor | None] = [None] * 4
    if 0 in wanted:
        ranks[0] = torch.minimum(low01, low23)
    if 3 in wanted:
        ranks[3] = torch.maximum(high01, high23)
    if 1 in wanted or 2 in wanted:
        inner_low, inner_high = torch.maximum(low01, low23), torch.minimum(high01, high23)
        ranks[1], ranks[2] = torch.minimum(inner_low, inner_high), torch.maximum(inner_low, inner_high)
    return ranks


def _stably_lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Bool ``(rows, size)``: the first ``count`` of each row sorted stably (NaN last, equal entries in order)."""
    picked = torch.sort(scores, dim=1, stable=True).indices[:, :count]
    return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter_(1, picked, True)
