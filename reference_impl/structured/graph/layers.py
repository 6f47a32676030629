"""Op rules for layers: Linear, Conv2d and Embedding open spaces and read them; norms act on them.

A Linear or Conv2d (groups=1) reading channels is a *consumer*: it loses the matching input
columns, which is exact only where the masked channels are zeros. A grouped or depthwise Conv2d ties
its input groups to its output groups. BatchNorm is sized by the channels (and zeroes masked ones
through ``ChannelMaskHook``); LayerNorm over channels spoils them.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn
from torch.fx import Node

from ..masks import layer_type
from .capture import Captured
from .spaces import Consumer, GroupedConv
from .state import FlowState, has_bias, shape_of
from .tags import ChannelTag, Segment, Tag, Tags, with_zero


class LayerRules(FlowState):
    """Op rules for layers: Linear, Conv2d and Embedding open spaces and read them; norms act on them."""

    OPS: ClassVar[dict[str, str]] = {
        "linear": "_linear",
        "conv2d": "_conv2d",
        "embedding": "_embedding",
        "batch_norm": "_batch_norm",
        "layer_norm": "_layer_norm",
    }

    def _layer(self, node: Node, kind: type[nn.Module], weight: object) -> str | None:
        """The fqn of the ``kind`` module this node calls, or None (a functional call on some tensor)."""
        fqn = Captured.module_of(node)
        module = self.modules.get(fqn)
        if module is None or layer_type(module) is not kind:
            return None
        if self.captured.parameter_of(weight) is None:
            return None
        self.calls[fqn] += 1
        return fqn

    def _read(self, tag: Tag | None, fqn: str | None, node: Node, layer: str) -> bool:
        """Record ``fqn`` reading a channel-tagged input; False (and the spaces spoiled) when it cannot."""
        if tag is None:
            return True
        if fqn is None:
            self.graph.unsafe(tag.spaces[0], f"its channels reach a functional {layer} ({self._where(node)})")
            return False
        if not isinstance(tag, ChannelTag):
            for space in tag.spaces:
                self.graph.unsafe(space, f"{fqn!r} reads it split into heads")
            return False
        if not tag.zero:
            for space in tag.spaces:
                self.graph.unsafe(space, f"its masked channels are not zero where {fqn!r} reads them")
        if fqn in self.tied:
            for space in tag.spaces:
                self.graph.unsafe(space, f"{fqn!r} reads it with a weight tied to another module's")
        offset = 0
        for segment in tag.segments:
            self.graph.spaces[segment.space].consumers.append(Consumer(fqn, offset, tag.block))
            offset += segment.size * tag.block
        return True

    def _produce(self, fqn: str | None, node: Node, size: int, kind: str) -> tuple[int, bool]:
        """A new space for the output channels of ``fqn`` (or of a functional op), and its ``zero`` flag."""
        label = f"the output of {fqn!r}" if fqn else f"the output of a functional {kind} ({self._where(node)})"
        space = self.graph.new(size, label)
        if fqn is None:
            self.graph.unsafe(space, f"it is written by a functional {kind}, which has no row mask")
            return space, False
        self.graph.spaces[space].producers.append(fqn)
        if fqn in self.tied:
            self.graph.unsafe(space, f"it is written by {fqn!r}, whose weight is tied to another module's")
        if fqn not in self.masked:
            self.graph.unsafe(space, f"it is written by {fqn!r}, which is not being pruned")
            return space, False
        zero = self.masked[fqn] or not has_bias(self.modules[fqn])
        if not zero:
            self.graph.unsafe(space, f"{fqn!r} has prune_bias=False: its masked rows still output their bias")
        return space, zero

    def _linear(self, node: Node, name: str) -> Tags:
        x, weight = node.args[0], node.args[1]
        fqn = self._layer(node, nn.Linear, weight)
        tags = dict(self._of(x))
        out_shape = shape_of(node)
        last = len(out_shape) - 1
        self._read(tags.pop(last, None), fqn, node, "linear")
        space, zero = self._produce(fqn, node, out_shape[-1], "linear")
        tags[last] = ChannelTag((Segment(space, out_shape[-1]),), zero)
        return tags

    def _conv2d(self, node: Node, name: str) -> Tags:
        x, weight = node.args[0], node.args[1]
        groups = node.args[6] if len(node.args) > 6 else node.kwargs.get("groups", 1)
        fqn = self._layer(node, nn.Conv2d, weight)
        tags = dict(self._of(x))
        out_shape = shape_of(node)
        channel_dim = len(out_shape) - 3
        incoming = tags.pop(channel_dim, None)
        space, zero = self._produce(fqn, node, out_shape[channel_dim], "conv2d")
        self._spoil(tags, f"a conv2d ({self._where(node)}) mixes its positions")
        if groups == 1:
            self._read(incoming, fqn, node, "conv2d")
        elif incoming is not None:
            self._grouped(incoming, fqn, node, space, groups)
        else:  # its input (the model's own) cannot lose channels, so neither can its groups
            self.graph.unsafe(space, f"it is written by a grouped convolution ({self._where(node)}) of fixed input")
        return {channel_dim: ChannelTag((Segment(space, out_shape[channel_dim]),), zero)}

    def _grouped(self, incoming: Tag, fqn: str | None, node: Node, space: int, groups: int) -> None:
        """A grouped convolution: input group ``g`` feeds only output group ``g``, so they are one unit."""
        if fqn is None or not isinstance(incoming, ChannelTag) or len(incoming.segments) != 1 or incoming.block != 1:
            self._spoil({0: incoming}, f"it enters a grouped convolution ({self._where(node)}) split or flattened")
            self.graph.unsafe(space, "its grouped convolution reads channels it cannot follow")
            return
        self.graph.spaces[space].grouped_convs.append(GroupedConv(fqn))
        self.graph.link(incoming.segments[0].space, space, groups)

    def _embedding(self, node: Node, name: str) -> Tags:
        weight = node.args[0]
        fqn = self._layer(node, nn.Embedding, weight)
        out_shape = shape_of(node)
        label = f"the output of {fqn!r}" if fqn else "the output of a functional embedding"
        space = self.graph.new(out_shape[-1], label)
        self.graph.unsafe(space, f"it is written by the embedding {fqn!r}, which carries no row mask")
        return {len(out_shape) - 1: ChannelTag((Segment(space, out_shape[-1]),), False)}

    def _batch_norm(self, node: Node, name: str) -> Tags:
        x, weight = node.args[0], node.args[1]
        tags = dict(self._of(x))
        tag = tags.get(1)
        fqn = Captured.module_of(node)
        module = self.modules.get(fqn)
        is_norm = isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine
        if tag is None:
            return {dim: with_zero(t, False) for dim, t in tags.items()}
        if not is_norm or self.captured.parameter_of(weight) is None:
            self._spoil(tags, f"a batch_norm without an affine BatchNorm module ({self._where(node)})")
            return {}
        space = tag.segments[0].space if isinstance(tag, ChannelTag) and len(tag.segments) == 1 else None
        if space is None or tag.block != 1 or not self.graph.spaces[space].producers:
            self._spoil(tags, f"BatchNorm {fqn!r} reads channels that no single layer writes")
            return {}
        self.calls[fqn] += 1
        self.graph.spaces[space].channel_modules.append(fqn)
        others = {d: with_zero(t, False) for d, t in tags.items() if d != 1}
        self._spoil(others, f"BatchNorm {fqn!r} normalizes over it")
        return {1: with_zero(tag, self.channel_hooks)}  # its ChannelMaskHook zeroes the masked channels

    def _layer_norm(self, node: Node, name: str) -> Tags:
        x, shape = node.args[0], node.args[1]
        tags = self._of(x)
        ndim = len(shape_of(node))
        normalized = range(ndim - len(shape), ndim)
        fqn = Captured.module_of(node)
        spoiled = {d: t for d, t in tags.items() if d in normalized}
        self._spoil(spoiled, f"LayerNorm {fqn!r} normalizes over its channels (masked channels would change the rest)")
        return {d: with_zero(t, False) for d, t in tags.items()}  # spoiled tags go on: later ties are reported too
