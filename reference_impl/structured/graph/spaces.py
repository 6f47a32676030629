"""Channel spaces and the groups they join: the bookkeeping of graph-based pruning.

A *space* is one axis of channels that some op creates: the output features of a Linear, the filters
of a Conv2d, the columns of an Embedding, or a virtual axis (attention heads merged back, channels
concatenated). Ops that tie two axes channel by channel (a residual add, a depthwise convolution,
attention heads of q, k and v meeting in a matmul) *link* their spaces. Linked spaces form a group
that is pruned in whole *units*: every member space is cut into the group's number of units, unit
``u`` covering channels ``[u * size / units, (u + 1) * size / units)`` of each member. A link that
asks for coarser units (heads of 8 channels, kv groups of two query heads) lowers the group's unit
count to the greatest common divisor, which keeps every earlier constraint true.

Everything recorded here is structure only (which module reads or writes which channels); values are
read at ``step()`` and ``prune()`` time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Consumer:
    """A module that reads a space's channels as its input: it loses the matching input columns."""

    module: str
    offset: int  # first input column of this space in the module's input (after a concatenation)
    block: int = 1  # input columns per channel (h * w when conv channels are flattened)


@dataclass(frozen=True)
class GroupedConv:
    """A grouped or depthwise convolution writing this space: its ``groups`` shrink with the units."""

    module: str


@dataclass(frozen=True)
class HeadSplit:
    """A reshape that cut this space into ``heads`` heads of ``head_size`` channels, inside ``owner``."""

    owner: str
    heads: int
    head_size: int


@dataclass
class Space:
    """One axis of ``size`` channels and what reads, writes and transforms it."""

    index: int
    size: int
    label: str
    producers: list[str] = field(default_factory=list)  # modules whose output rows are these channels
    consumers: list[Consumer] = field(default_factory=list)
    channel_modules: list[str] = field(default_factory=list)  # BatchNorm layers over these channels
    channel_params: list[tuple[str, int]] = field(default_factory=list)  # (parameter fqn, dim) per channel
    grouped_convs: list[GroupedConv] = field(default_factory=list)
    head_splits: list[HeadSplit] = field(default_factory=list)


class SpaceGraph:
    """Union-find over spaces, with each group's unit count and the reasons it cannot be pruned."""

    def __init__(self) -> None:
        self.spaces: list[Space] = []
        self._parent: list[int] = []
        self._units: list[int] = []
        self._reasons: list[list[str]] = []

    def new(self, size: int, label: str) -> int:
        """A new space of ``size`` channels, in a group of its own (one unit per channel)."""
        index = len(self.spaces)
        self.spaces.append(Space(index, size, label))
        self._parent.append(index)
        self._units.append(size)
        self._reasons.append([])
        return index

    def find(self, index: int) -> int:
        while self._parent[index] != index:
            self._parent[index] = self._parent[self._parent[index]]
            index = self._parent[index]
        return index

    def link(self, a: int, b: int, units: int) -> None:
        """Tie ``a`` and ``b`` unit by unit, each cut into ``units`` equal contiguous units."""
        for index in (a, b):
            if self.spaces[index].size % units:
                self.unsafe(
                    a,
                    f"{self.spaces[index].label} ({self.spaces[index].size} channels) cannot be cut "
                    f"into {units} equal units",
                )
                self.unsafe(b, f"{self.spaces[index].label} cannot be cut into {units} equal units")
                return
        root_a, root_b = self.find(a), self.find(b)
        count = math.gcd(self._units[root_a], self._units[root_b], units)
        if root_a != root_b:
            self._parent[root_b] = root_a
            self._reasons[root_a].extend(self._reasons[root_b])
        self._units[root_a] = count

    def constrain(self, index: int, units: int) -> None:
        """``index`` may only lose whole blocks of ``size / units`` channels (e.g. whole heads)."""
        self.link(index, index, units)

    def unsafe(self, index: int, reason: str) -> None:
        """The group of ``index`` cannot be pruned exactly; ``reason`` says why (first reasons kept)."""
        reasons = self._reasons[self.find(index)]
        if reason not in reasons:
            reasons.append(reason)

    def units(self, index: int) -> int:
        return self._units[self.find(index)]

    def reasons(self, index: int) -> list[str]:
        return list(self._reasons[self.find(index)])

    def groups(self) -> dict[int, list[Space]]:
        """Root index -> member spaces, in creation order."""
        result: dict[int, list[Space]] = {}
        for space in self.spaces:
            result.setdefault(self.find(space.index), []).append(space)
        return result
