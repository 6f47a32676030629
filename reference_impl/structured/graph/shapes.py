"""Op rules for ops that move, cut or regroup dims: where the channels are after them.

Transposes move tags; a reshape that splits a channel dim into (heads, head_size) constrains the
space to whole heads, and merging (heads, head_size) back opens a new space tied head by head; a
concatenation along channels lays spaces end to end. Selecting or slicing some channels spoils them.
"""

from __future__ import annotations

from typing import ClassVar

from torch.fx import Node

from .capture import Captured
from .spaces import HeadSplit
from .state import FlowState, norm_dim, shape_of
from .tags import ChannelTag, Segment, Tag, Tags, UnitTag, WithinTag, reshape_blocks, with_zero


class ShapeRules(FlowState):
    """Op rules for ops that move, cut or regroup dims: where the channels are after them."""

    OPS: ClassVar[dict[str, str]] = {
        "view": "_reshape",
        "reshape": "_reshape",
        "_unsafe_view": "_reshape",
        "flatten": "_reshape",
        "squeeze": "_reshape",
        "transpose": "_transpose",
        "permute": "_permute",
        "unsqueeze": "_unsqueeze",
        "select": "_select",
        "slice": "_slice",
        "cat": "_cat",
        "getitem": "_getitem",
        "split": "_split",
        "split_with_sizes": "_split",
        "chunk": "_split",
        "unbind": "_split",
    }

    def _transpose(self, node: Node, name: str) -> Tags:
        ndim = len(shape_of(node))
        a, b = norm_dim(node.args[1], ndim), norm_dim(node.args[2], ndim)
        swap = {a: b, b: a}
        return {swap.get(d, d): t for d, t in self._of(node.args[0]).items()}

    def _permute(self, node: Node, name: str) -> Tags:
        dims = node.args[1]
        order = [norm_dim(d, len(dims)) for d in dims]
        tags = self._of(node.args[0])
        return {new: tags[old] for new, old in enumerate(order) if old in tags}

    def _unsqueeze(self, node: Node, name: str) -> Tags:
        dim = norm_dim(node.args[1], len(shape_of(node)))
        return {(d + 1 if d >= dim else d): t for d, t in self._of(node.args[0]).items()}

    def _select(self, node: Node, name: str) -> Tags:
        tags = self._of(node.args[0])
        dim = norm_dim(node.args[1], len(shape_of(node.args[0])))
        if dim in tags:
            self._spoil({0: tags[dim]}, f"select picks some of its channels ({self._where(node)})")
        return {(d - 1 if d > dim else d): t for d, t in tags.items() if d != dim}

    def _slice(self, node: Node, name: str) -> Tags:
        tags = dict(self._of(node.args[0]))
        in_shape = shape_of(node.args[0])
        dim = norm_dim(node.args[1] if len(node.args) > 1 else 0, len(in_shape))
        tag = tags.get(dim)
        if tag is None or shape_of(node)[dim] == in_shape[dim]:
            return tags
        if isinstance(tag, WithinTag):
            tags[dim] = WithinTag(tag.space, tag.size, False)
            return tags
        self._spoil({0: tag}, f"slice keeps part of its channels ({self._where(node)})")
        return {d: t for d, t in tags.items() if d != dim}

    def _reshape(self, node: Node, name: str) -> Tags:
        src, dst = shape_of(node.args[0]), shape_of(node)
        tags = self._of(node.args[0])
        out: Tags = {}
        covered = set()
        for ins, outs in reshape_blocks(src, dst):
            covered.update(ins)
            present = [tags.get(d) for d in ins]
            if not any(present):
                continue
            result = self._reshape_block(node, present, [src[d] for d in ins], [dst[d] for d in outs])
            for d, tag in zip(outs, result, strict=True):
                if tag is not None:
                    out[d] = tag
        lost = {d: t for d, t in tags.items() if d not in covered}
        self._spoil(lost, f"a reshape drops its channel dim ({self._where(node)})")
        return out

    def _reshape_block(self, node: Node, tags: list, sizes: list[int], new: list[int]) -> list[Tag | None]:
        """Tags of the ``new`` dims one run of dims becomes; unsupported regroupings spoil the spaces."""
        nothing: list[Tag | None] = [None] * len(new)
        if len(tags) == 1 and len(new) == 1:
            return [tags[0]]
        if len(tags) == 1 and len(new) == 2 and isinstance(tags[0], ChannelTag):
            return self._split_heads(node, tags[0], new) or nothing
        if len(new) == 1 and tags[0] is not None and all(t is None for t in tags[1:]):
            return [self._merge_trailing(tags[0], sizes)]
        if len(new) == 1 and len(tags) == 2 and isinstance(tags[0], UnitTag) and isinstance(tags[1], WithinTag):
            return [self._merge_heads(node, tags[0], tags[1], sizes)] if tags[1].exact else self._bad(node, tags)
        return self._bad(node, tags, len(new))

    def _bad(self, node: Node, tags: list, count: int = 1) -> list[Tag | None]:
        self._spoil(dict(enumerate(t for t in tags if t is not None)), f"a reshape regroups it ({self._where(node)})")
        return [None] * count

    def _split_heads(self, node: Node, tag: ChannelTag, new: list[int]) -> list[Tag | None] | None:
        """``(..., heads * head_size) -> (..., heads, head_size)``: the space loses whole heads only."""
        if len(tag.segments) != 1 or tag.block != 1:
            self._bad(node, [tag], 2)
            return None
        heads, head_size = new
        space = tag.segments[0].space
        self.graph.constrain(space, heads)
        self.graph.spaces[space].head_splits.append(HeadSplit(Captured.module_of(node), heads, head_size))
        return [UnitTag(space, head_size, 1, tag.zero), WithinTag(space, head_size, True)]

    def _merge_trailing(self, tag: Tag, sizes: list[int]) -> Tag:
        """A tagged dim merged with untagged dims after it: flattened channels, or repeated heads."""
        trailing = 1
        for size in sizes[1:]:
            trailing *= size
        if isinstance(tag, ChannelTag):
            return ChannelTag(tag.segments, tag.zero, tag.block * trailing)
        if isinstance(tag, UnitTag):
            return UnitTag(tag.space, tag.size, tag.rep * trailing, tag.zero)
        return WithinTag(tag.space, tag.size, False)

    def _merge_heads(self, node: Node, heads: UnitTag, within: WithinTag, sizes: list[int]) -> Tag:
        """``(..., heads, head_size) -> (..., heads * head_size)``: a new axis tied head by head."""
        count = sizes[0]
        if self.graph.find(heads.space) != self.graph.find(within.space):
            self.graph.link(heads.space, within.space, self.graph.spaces[within.space].size // within.size)
        merged = self.graph.new(count * heads.size, f"the heads merged back ({self._where(node)})")
        self.graph.link(merged, heads.space, count // heads.rep)
        return ChannelTag((Segment(merged, count * heads.size),), heads.zero)

    def _cat(self, node: Node, name: str) -> Tags:
        tensors = node.args[0]
        out_shape = shape_of(node)
        dim = norm_dim(node.args[1] if len(node.args) > 1 else 0, len(out_shape))
        per_input = [self._of(t) for t in tensors]
        along = [tags.get(dim) for tags in per_input]
        out: Tags = {}
        if all(isinstance(t, ChannelTag) and t.block == 1 for t in along):
            segments = tuple(s for t in along for s in t.segments)
            out[dim] = ChannelTag(segments, all(t.zero for t in along))
        elif all(isinstance(t, WithinTag) for t in along) and len({(t.space, t.size) for t in along}) == 1:
            out[dim] = WithinTag(along[0].space, along[0].size, False)
        elif any(t is not None for t in along):
            uneven = dict(enumerate(t for t in along if t is not None))
            self._spoil(uneven, f"a cat joins it unevenly ({self._where(node)})")
        for other in range(len(out_shape)):
            if other == dim:
                continue
            tags = [tags.get(other) for tags in per_input]
            if all(t is None for t in tags):
                continue
            if any(t is None for t in tags):
                tagged = [t for t in tags if t is not None]
                self._spoil(dict(enumerate(tagged)), f"a cat joins it with untagged values ({self._where(node)})")
                out[other] = with_zero(tagged[0], False)
                continue
            tag = tags[0]
            for more in tags[1:]:
                tag = self._join(node, "cat", tag, more)
            out[other] = tag
        return out

    def _split(self, node: Node, name: str) -> list[Tags]:
        tags = self._of(node.args[0])
        ndim = len(shape_of(node.args[0]))
        dim = norm_dim(node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0), ndim)
        if name == "unbind":
            dim = norm_dim(node.args[1] if len(node.args) > 1 else 0, ndim)
        if dim in tags:
            self._spoil({0: tags[dim]}, f"{name} cuts its channels apart ({self._where(node)})")
        kept = {d: t for d, t in tags.items() if d != dim}
        if name == "unbind":
            kept = {(d - 1 if d > dim else d): t for d, t in kept.items()}
        count = len(node.meta.get("val") or ())
        return [dict(kept) for _ in range(count)]

    def _getitem(self, node: Node, name: str) -> Tags:
        value = self.tags.get(node.args[0])
        if isinstance(value, list):
            return value[node.args[1]]
        return {}
