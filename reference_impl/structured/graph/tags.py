"""What each dim of a tensor in the exported graph says about channels: the tags ``flow`` propagates.

* ``ChannelTag``: index ``i`` of the dim is channel ``i`` of a run of spaces laid end to end (several
  after a concatenation); ``block > 1`` when each channel was flattened with ``block`` positions.
* ``UnitTag``: index ``i`` is unit ``i // rep`` of a space cut into units of ``size`` channels (the head
  dim after q/k/v are viewed as heads; ``rep > 1`` after key/value heads are repeated for their
  query heads).
* ``WithinTag``: index ``i`` is an offset inside every unit of a space (the head_dim). Units are pruned
  whole, so ops along this dim (rotary embeddings slicing it) are harmless; ``exact`` is False once
  the offsets were permuted, after which the dim cannot be merged back into channels.

``zero`` (on channel and unit tags) says whether the masked channels are exact zeros in the masked
model at this point: a layer that reads them must find zeros for dropping them to be exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Union


@dataclass(frozen=True)
class Segment:
    space: int
    size: int


@dataclass(frozen=True)
class ChannelTag:
    segments: tuple[Segment, ...]
    zero: bool
    block: int = 1

    @property
    def spaces(self) -> tuple[int, ...]:
        return tuple(s.space for s in self.segments)


@dataclass(frozen=True)
class UnitTag:
    space: int
    size: int
    rep: int
    zero: bool

    @property
    def spaces(self) -> tuple[int, ...]:
        return (self.space,)


@dataclass(frozen=True)
class WithinTag:
    space: int
    size: int
    exact: bool

    @property
    def spaces(self) -> tuple[int, ...]:
        return (self.space,)


Tag = Union[ChannelTag, UnitTag, WithinTag]  # noqa: UP007 - a runtime alias, not an annotation
Tags = dict[int, Tag]
"""Non-negative dim -> tag; dims without a tag carry no channels."""


def with_zero(tag: Tag, zero: bool) -> Tag:
    """``tag`` with its ``zero`` flag set (a ``WithinTag`` has none)."""
    return tag if isinstance(tag, WithinTag) else replace(tag, zero=zero)


def tag_spaces(tags: Tags) -> set[int]:
    return {space for tag in tags.values() for space in tag.spaces}


def reshape_blocks(src: tuple[int, ...], dst: tuple[int, ...]) -> list[tuple[list[int], list[int]]]:
    """Pair runs of ``src`` dims with the runs of ``dst`` dims a reshape turns them into.

    Size-1 dims are left out (they carry no channels); the rest are matched greedily by product, so
    ``(2, 16, 32) -> (2, 16, 4, 8)`` gives ``[([0], [0]), ([1], [1]), ([2], [2, 3])]``.
    """
    src_dims = [d for d, n in enumerate(src) if n != 1]
    dst_dims = [d for d, n in enumerate(dst) if n != 1]
    blocks: list[tuple[list[int], list[int]]] = []
    a = b = 0
    while a < len(src_dims) and b < len(dst_dims):
        ins, outs = [src_dims[a]], [dst_dims[b]]
        p, q = src[src_dims[a]], dst[dst_dims[b]]
        a, b = a + 1, b + 1
        while p != q:
            if p < q:
                ins.append(src_dims[a])
                p *= src[src_dims[a]]
                a += 1
            else:
                outs.append(dst_dims[b])
                q *= dst[dst_dims[b]]
                b += 1
        blocks.append((ins, outs))
    return blocks
