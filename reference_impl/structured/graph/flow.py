"""Following every channel axis through the exported ATen graph: which ops tie, read or spoil it.

``ChannelFlow`` walks the graph once in topological order. Each Linear, Conv2d and Embedding output
opens a space (``spaces``); every other op maps the tags of its inputs' dims to its output's dims
(``tags``) and records what pruning must know:

* links between spaces: an element-wise op on two tagged tensors (residual add, SwiGLU product), a
  grouped or depthwise convolution (its input units are its output units), two attention operands
  meeting in a matmul (query heads with their key/value heads);
* constraints: a reshape that cuts a space into heads (the space then loses whole heads only);
* who reads the channels (the next Linear / Conv2d, which loses input columns) and what is sized by
  them (BatchNorm layers, per-channel parameters, grouped convolutions, head counts);
* why a space cannot be pruned exactly: a normalization or softmax over its channels, the model's
  output, an op that is not understood, masked channels that are not zero where a layer reads them.

The rules are written for ops, not models: nothing here knows ResNet from Llama.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.fx import Node
from torch.nn.utils.parametrize import type_before_parametrizations

from .capture import Captured
from .spaces import Consumer, GroupedConv, HeadSplit, SpaceGraph
from .tags import ChannelTag, Segment, Tag, Tags, UnitTag, WithinTag, reshape_blocks, tag_spaces, with_zero

ZERO_PRESERVING = frozenset(
    {
        "relu", "relu6", "gelu", "silu", "tanh", "neg", "dropout", "contiguous", "clone", "alias", "detach",
        "to", "_to_copy", "abs", "sin", "leaky_relu", "elu", "hardswish", "mish", "sqrt", "type_as", "celu",
        "selu", "lift_fresh_copy", "feature_dropout", "alpha_dropout", "erf", "sign", "square",
    }
)  # fmt: skip
"""Element-wise ops that map 0 to 0: masked channels stay exact zeros through them."""

NOT_ZERO_PRESERVING = frozenset(
    {"sigmoid", "cos", "exp", "rsqrt", "hardsigmoid", "reciprocal", "log", "softplus", "cosh", "erfc"}
)
"""Element-wise ops that map 0 elsewhere: masked channels carry a constant after them."""

SPATIAL = frozenset(
    {
        "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "upsample_bilinear2d",
        "upsample_nearest2d", "pad", "constant_pad_nd", "reflection_pad2d", "replication_pad2d",
    }
)  # fmt: skip
"""Ops over the last two (spatial) dims only; a zero channel stays zero (max pools pad with -inf)."""

IGNORED = frozenset({"sym_size", "_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size"})

BINARY = frozenset({"add", "sub", "mul", "div", "maximum", "minimum"})


def op_name(target: object) -> str:
    """``aten.add_.Tensor`` -> ``add`` (in-place ops read like their functional form)."""
    if target is operator.getitem:
        return "getitem"
    name = getattr(target, "__name__", str(target)).split(".")[0]
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


def _shape(value: object) -> tuple[int, ...] | None:
    val = value.meta.get("val") if isinstance(value, Node) else None
    return tuple(int(n) for n in val.shape) if isinstance(val, torch.Tensor) else None


def _dim(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


class ChannelFlow:
    """One walk over a captured graph, filling a ``SpaceGraph``; see the module docstring."""

    def __init__(
        self, captured: Captured, modules: Mapping[str, nn.Module], masked: Mapping[str, bool], channel_hooks: bool
    ) -> None:
        """``masked``: fqn -> prune_bias of each configured module; ``channel_hooks``: whether the masked
        model zeroes masked channels after BatchNorm (hooks attached at ``prepare``)."""
        self.captured = captured
        self.modules = modules
        self.masked = masked
        self.channel_hooks = channel_hooks
        self.graph = SpaceGraph()
        self.tags: dict[Node, Any] = {}
        self.calls: Counter[str] = Counter()
        self.space_of_module: dict[str, list[int]] = {}  # producer fqn -> spaces it writes (one per call)
        self.readers: dict[str, set[int]] = {}  # consumer / per-channel module fqn -> spaces it reads
        self._rules: dict[str, Callable[[Node, str], Any]] = {
            "linear": self._linear,
            "conv2d": self._conv2d,
            "embedding": self._embedding,
            "batch_norm": self._batch_norm,
            "layer_norm": self._layer_norm,
            "view": self._reshape,
            "reshape": self._reshape,
            "_unsafe_view": self._reshape,
            "flatten": self._reshape,
            "transpose": self._transpose,
            "permute": self._permute,
            "unsqueeze": self._unsqueeze,
            "squeeze": self._reshape,
            "expand": self._same,
            "select": self._select,
            "slice": self._slice,
            "cat": self._cat,
            "matmul": self._matmul,
            "bmm": self._matmul,
            "softmax": self._softmax,
            "_softmax": self._softmax,
            "log_softmax": self._softmax,
            "mean": self._reduce,
            "sum": self._reduce,
            "amax": self._reduce,
            "getitem": self._getitem,
            "split": self._split,
            "split_with_sizes": self._split,
            "chunk": self._split,
            "unbind": self._split,
            "hardtanh": self._hardtanh,
            "pow": self._pow,
        }

    # -- driving ------------------------------------------------------------------------------

    def run(self) -> SpaceGraph:
        for node in self.captured.graph.nodes:
            if node.op == "call_function":
                self.tags[node] = self._call(node)
            elif node.op == "output":
                self._output(node)
        return self.graph

    def _call(self, node: Node) -> Any:
        name = op_name(node.target)
        if name in IGNORED:
            return {}
        rule = self._rules.get(name)
        if rule is None and name in ZERO_PRESERVING | NOT_ZERO_PRESERVING:
            rule = self._unary
        elif rule is None and name in BINARY:
            rule = self._binary
        elif rule is None and name in SPATIAL:
            rule = self._spatial
        inputs = self._input_tags(node)
        if rule is None:
            self._spoil(inputs, f"it reaches {name} ({self._where(node)}), whose use of channels prune() does not know")
            return {}
        if not inputs and name not in ("linear", "conv2d", "embedding"):
            return {}
        return rule(node, name)

    def _input_tags(self, node: Node) -> Tags:
        """Every tag on any tensor input (for spoiling), merged; dims are meaningless here."""
        merged: Tags = {}
        for arg in node.all_input_nodes:
            value = self.tags.get(arg)
            if isinstance(value, dict):
                for tag in value.values():
                    merged[len(merged)] = tag
            elif isinstance(value, list):
                for tags in value:
                    for tag in tags.values():
                        merged[len(merged)] = tag
        return merged

    def _of(self, value: object) -> Tags:
        tags = self.tags.get(value) if isinstance(value, Node) else None
        return tags if isinstance(tags, dict) else {}

    def _spoil(self, tags: Tags, reason: str) -> None:
        for space in tag_spaces(tags):
            self.graph.unsafe(space, reason)

    def _where(self, node: Node) -> str:
        module = Captured.module_of(node)
        return f"in {module!r}" if module else "in the model's own forward"

    def _output(self, node: Node) -> None:
        for arg in node.all_input_nodes:
            self._spoil(self._of(arg), "it reaches the model's output (its shape would change)")

    # -- layers -------------------------------------------------------------------------------

    def _layer(self, node: Node, kind: type[nn.Module], weight: object) -> str | None:
        """The fqn of the ``kind`` module this node calls, or None (a functional call on some tensor)."""
        fqn = Captured.module_of(node)
        module = self.modules.get(fqn)
        if module is None or type_before_parametrizations(module) is not kind:
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
        offset = 0
        for segment in tag.segments:
            self.graph.spaces[segment.space].consumers.append(Consumer(fqn, offset, tag.block))
            self.readers.setdefault(fqn, set()).add(segment.space)
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
        self.space_of_module.setdefault(fqn, []).append(space)
        if fqn not in self.masked:
            self.graph.unsafe(space, f"it is written by {fqn!r}, which is not being pruned")
            return space, False
        module = self.modules[fqn]
        zero = self.masked[fqn] or getattr(module, "bias", None) is None
        if not zero:
            self.graph.unsafe(space, f"{fqn!r} has prune_bias=False: its masked rows still output their bias")
        return space, zero

    def _linear(self, node: Node, name: str) -> Tags:
        x, weight = node.args[0], node.args[1]
        fqn = self._layer(node, nn.Linear, weight)
        tags = dict(self._of(x))
        out_shape = _shape(node)
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
        out_shape = _shape(node)
        channel_dim = len(out_shape) - 3
        incoming = tags.pop(channel_dim, None)
        space, zero = self._produce(fqn, node, out_shape[channel_dim], "conv2d")
        self._spoil(tags, f"a conv2d ({self._where(node)}) mixes its positions")
        if groups == 1:
            self._read(incoming, fqn, node, "conv2d")
        elif incoming is not None:
            self._grouped(incoming, fqn, node, space, groups)
        elif fqn is not None:
            self.graph.spaces[space].grouped_convs.append(GroupedConv(fqn))
            self.graph.constrain(space, groups)
        return {channel_dim: ChannelTag((Segment(space, out_shape[channel_dim]),), zero)}

    def _grouped(self, incoming: Tag, fqn: str | None, node: Node, space: int, groups: int) -> None:
        """A grouped convolution: input group ``g`` feeds only output group ``g``, so they are one unit."""
        if fqn is None or not isinstance(incoming, ChannelTag) or len(incoming.segments) != 1 or incoming.block != 1:
            self._spoil({0: incoming}, f"it enters a grouped convolution ({self._where(node)}) split or flattened")
            self.graph.unsafe(space, "its grouped convolution reads channels it cannot follow")
            return
        self.graph.spaces[space].grouped_convs.append(GroupedConv(fqn))
        self.readers.setdefault(fqn, set()).add(incoming.segments[0].space)
        self.graph.link(incoming.segments[0].space, space, groups)

    def _embedding(self, node: Node, name: str) -> Tags:
        weight = node.args[0]
        fqn = self._layer(node, nn.Embedding, weight)
        out_shape = _shape(node)
        label = f"the output of {fqn!r}" if fqn else "the output of a functional embedding"
        space = self.graph.new(out_shape[-1], label)
        self.graph.unsafe(space, f"it is written by the embedding {fqn!r}, which carries no row mask")
        return {len(out_shape) - 1: ChannelTag((Segment(space, out_shape[-1]),), False)}

    def _batch_norm(self, node: Node, name: str) -> Tags:
        x, weight = node.args[0], node.args[1]
        tags = dict(self._of(x))
        ndim = len(_shape(node))
        tag = tags.get(1)
        fqn = Captured.module_of(node)
        module = self.modules.get(fqn)
        is_norm = isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine
        if tag is None:
            return {dim: with_zero(t, False) for dim, t in tags.items()}
        if not is_norm or self.captured.parameter_of(weight) is None:
            self._spoil(tags, f"a batch_norm without an affine BatchNorm module ({self._where(node)})")
            return {}
        if not isinstance(tag, ChannelTag) or len(tag.segments) != 1 or tag.block != 1:
            self._spoil(tags, f"BatchNorm {fqn!r} reads it concatenated, split or flattened")
            return {}
        self.calls[fqn] += 1
        self.graph.spaces[tag.segments[0].space].channel_modules.append(fqn)
        self.readers.setdefault(fqn, set()).add(tag.segments[0].space)
        others = {d: with_zero(t, False) for d, t in tags.items() if d != 1}
        self._spoil(others, f"BatchNorm {fqn!r} normalizes over it")
        del ndim
        return {1: with_zero(tag, self.channel_hooks and tag.zero)}

    def _layer_norm(self, node: Node, name: str) -> Tags:
        x, shape = node.args[0], node.args[1]
        tags = self._of(x)
        ndim = len(_shape(node))
        normalized = range(ndim - len(shape), ndim)
        fqn = Captured.module_of(node)
        spoiled = {d: t for d, t in tags.items() if d in normalized}
        self._spoil(spoiled, f"LayerNorm {fqn!r} normalizes over its channels (masked channels would change the rest)")
        return {d: with_zero(t, False) for d, t in tags.items()}  # spoiled tags go on: later ties are reported too

    # -- element-wise ---------------------------------------------------------------------------

    def _same(self, node: Node, name: str) -> Tags:
        return dict(self._of(node.args[0]))

    def _unary(self, node: Node, name: str) -> Tags:
        tags = self._of(node.args[0])
        if name in ZERO_PRESERVING:
            return dict(tags)
        return {d: with_zero(t, False) for d, t in tags.items()}

    def _hardtanh(self, node: Node, name: str) -> Tags:
        low = node.args[1] if len(node.args) > 1 else -1.0
        high = node.args[2] if len(node.args) > 2 else 1.0
        tags = self._of(node.args[0])
        return dict(tags) if low <= 0 <= high else {d: with_zero(t, False) for d, t in tags.items()}

    def _pow(self, node: Node, name: str) -> Tags:
        exponent = node.args[1]
        tags = self._of(node.args[0])
        if isinstance(node.args[1], Node):
            self._spoil(self._input_tags(node), f"a pow with a tensor exponent ({self._where(node)})")
            return {}
        return dict(tags) if exponent > 0 else {d: with_zero(t, False) for d, t in tags.items()}

    def _binary(self, node: Node, name: str) -> Tags:
        out_shape = _shape(node)
        ndim = len(out_shape)
        operands = [a for a in node.args[:2]]
        merged: Tags = {}
        for dim in range(ndim):
            present = []  # (operand index, tag or None when untagged but varying along dim)
            for index, operand in enumerate(operands):
                shape = _shape(operand)
                if shape is None:
                    continue
                own = dim - (ndim - len(shape))
                if own < 0 or shape[own] == 1:
                    continue
                present.append((index, self._of(operand).get(own), operand, own))
            tag = self._combine(node, name, present, out_shape[dim])
            if tag is not None:
                merged[dim] = tag
        return merged

    def _combine(self, node: Node, name: str, present: list, size: int) -> Tag | None:
        """The output tag of one dim of an element-wise op, given each operand's tag there."""
        tagged = [(i, t) for i, t, _, _ in present if t is not None]
        if not tagged:
            return None
        first = tagged[0][1]
        if len(tagged) == 2:
            return self._join(node, name, first, tagged[1][1])
        untagged = [(i, operand, own) for i, t, operand, own in present if t is None]
        if untagged:  # a tensor with values of its own along the channels
            _, operand, own = untagged[0]
            parameter = self.captured.parameter_of(operand)
            if isinstance(first, WithinTag):
                return first
            if parameter is None or not isinstance(first, ChannelTag) or len(first.segments) != 1:
                self._spoil(
                    {0: first}, f"it meets a tensor with values of its own per channel in {name} ({self._where(node)})"
                )
                return first
            self.graph.spaces[first.segments[0].space].channel_params.append((parameter, own))
        zero = self._zero_after(name, first, tagged[0][0], present, node)
        return with_zero(first, zero)

    def _zero_after(self, name: str, tag: Tag, tagged_index: int, present: list, node: Node) -> bool:
        """Whether masked channels stay zero after ``name`` with one tagged operand."""
        if isinstance(tag, WithinTag):
            return True
        zero = tag.zero
        if name in ("mul",):
            return zero
        if name == "div":
            if tagged_index == 1:
                self._spoil({0: tag}, f"its channels divide another tensor ({self._where(node)})")
            return zero
        other = node.args[1 - tagged_index] if len(node.args) > 1 else None
        if isinstance(other, (int, float)) and other == 0:
            return zero
        return False

    def _join(self, node: Node, name: str, a: Tag, b: Tag) -> Tag | None:
        """Two tagged operands on one dim: the same channels, so their spaces are linked."""
        if isinstance(a, ChannelTag) and isinstance(b, ChannelTag):
            if [s.size for s in a.segments] != [s.size for s in b.segments] or a.block != b.block:
                self._spoil({0: a, 1: b}, f"{name} of differently concatenated channels ({self._where(node)})")
                return a
            for left, right in zip(a.segments, b.segments, strict=True):
                self.graph.link(left.space, right.space, left.size)
            zero = (a.zero or b.zero) if name == "mul" else (a.zero and b.zero)
            return with_zero(a, zero)
        if isinstance(a, UnitTag) and isinstance(b, UnitTag) and (a.size, a.rep) == (b.size, b.rep):
            units = self.graph.spaces[a.space].size // a.size
            self.graph.link(a.space, b.space, units)
            zero = (a.zero or b.zero) if name == "mul" else (a.zero and b.zero)
            return with_zero(a, zero)
        if isinstance(a, WithinTag) and isinstance(b, WithinTag) and a.size == b.size:
            return WithinTag(a.space, a.size, a.exact and b.exact)
        self._spoil({0: a, 1: b}, f"{name} of channels laid out differently ({self._where(node)})")
        return a

    def _spatial(self, node: Node, name: str) -> Tags:
        tags = self._of(node.args[0])
        ndim = len(_shape(node))
        spatial = {d: t for d, t in tags.items() if d >= ndim - 2}
        self._spoil(spatial, f"{name} runs over its channels ({self._where(node)})")
        return {d: t for d, t in tags.items() if d < ndim - 2}

    # -- shapes --------------------------------------------------------------------------------

    def _transpose(self, node: Node, name: str) -> Tags:
        ndim = len(_shape(node))
        a, b = _dim(node.args[1], ndim), _dim(node.args[2], ndim)
        swap = {a: b, b: a}
        return {swap.get(d, d): t for d, t in self._of(node.args[0]).items()}

    def _permute(self, node: Node, name: str) -> Tags:
        dims = node.args[1]
        order = [_dim(d, len(dims)) for d in dims]
        tags = self._of(node.args[0])
        return {new: tags[old] for new, old in enumerate(order) if old in tags}

    def _unsqueeze(self, node: Node, name: str) -> Tags:
        dim = _dim(node.args[1], len(_shape(node)))
        return {(d + 1 if d >= dim else d): t for d, t in self._of(node.args[0]).items()}

    def _select(self, node: Node, name: str) -> Tags:
        tags = self._of(node.args[0])
        dim = _dim(node.args[1], len(_shape(node.args[0])))
        if dim in tags:
            self._spoil({0: tags[dim]}, f"select picks some of its channels ({self._where(node)})")
        return {(d - 1 if d > dim else d): t for d, t in tags.items() if d != dim}

    def _slice(self, node: Node, name: str) -> Tags:
        tags = dict(self._of(node.args[0]))
        in_shape = _shape(node.args[0])
        dim = _dim(node.args[1] if len(node.args) > 1 else 0, len(in_shape))
        tag = tags.get(dim)
        if tag is None or _shape(node)[dim] == in_shape[dim]:
            return tags
        if isinstance(tag, WithinTag):
            tags[dim] = WithinTag(tag.space, tag.size, False)
            return tags
        self._spoil({0: tag}, f"slice keeps part of its channels ({self._where(node)})")
        return {d: t for d, t in tags.items() if d != dim}

    def _reshape(self, node: Node, name: str) -> Tags:
        src, dst = _shape(node.args[0]), _shape(node)
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
        out_shape = _shape(node)
        dim = _dim(node.args[1] if len(node.args) > 1 else 0, len(out_shape))
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

    def _matmul(self, node: Node, name: str) -> Tags:
        a, b = node.args[0], node.args[1]
        a_shape, b_shape, out_shape = _shape(a), _shape(b), _shape(node)
        a_tags, b_tags = self._of(a), self._of(b)
        if len(a_shape) < 2 or len(b_shape) < 2:
            self._spoil(self._input_tags(node), f"a matmul of vectors ({self._where(node)})")
            return {}
        ndim = len(out_shape)
        out: Tags = {}
        contracted = (a_tags.get(len(a_shape) - 1), b_tags.get(len(b_shape) - 2))
        if any(t is not None for t in contracted):
            ok = all(isinstance(t, WithinTag) for t in contracted) and contracted[0].size == contracted[1].size
            if not ok:
                summed = dict(enumerate(t for t in contracted if t is not None))
                self._spoil(summed, f"a matmul sums over its channels ({self._where(node)})")
        for dim in range(ndim - 2):
            present, varying = [], 0
            for tags, shape in ((a_tags, a_shape), (b_tags, b_shape)):
                own = dim - (ndim - len(shape))
                if own >= 0 and shape[own] != 1:
                    varying += 1
                    if tags.get(own) is not None:
                        present.append(tags[own])
            if len(present) == 1 and varying == 2:
                self._spoil({0: present[0]}, f"a matmul pairs its heads with values of their own ({self._where(node)})")
            if len(present) == 1:
                out[dim] = present[0]
            elif len(present) == 2:
                out[dim] = self._couple_heads(node, *present)
        rows, cols = a_tags.get(len(a_shape) - 2), b_tags.get(len(b_shape) - 1)
        if rows is not None:
            out[ndim - 2] = rows
        if cols is not None:
            out[ndim - 1] = cols
        return out

    def _couple_heads(self, node: Node, a: Tag, b: Tag) -> Tag:
        """Batched heads of two attention operands: head ``h`` of one meets head ``h // rep`` of the other."""
        if not (isinstance(a, UnitTag) and isinstance(b, UnitTag)):
            return self._join(node, "matmul", a, b)
        heads_a = self.graph.spaces[a.space].size // a.size
        heads_b = self.graph.spaces[b.space].size // b.size
        if heads_a * a.rep != heads_b * b.rep:
            self._spoil({0: a, 1: b}, f"a matmul of {heads_a} heads with {heads_b} heads ({self._where(node)})")
            return a
        count = heads_a * a.rep
        self.graph.link(a.space, b.space, count // math.lcm(a.rep, b.rep))
        zero = a.zero or b.zero
        return with_zero(a if a.rep <= b.rep else b, zero)

    def _softmax(self, node: Node, name: str) -> Tags:
        tags = self._of(node.args[0])
        dim = _dim(node.args[1], len(_shape(node)))
        if dim in tags:
            self._spoil({0: tags[dim]}, f"{name} normalizes over its channels ({self._where(node)})")
        return {d: with_zero(t, False) for d, t in tags.items()}

    def _reduce(self, node: Node, name: str) -> Tags:
        tags = self._of(node.args[0])
        ndim_in = len(_shape(node.args[0]))
        dims = node.args[1] if len(node.args) > 1 else None
        if dims is None:
            dims = list(range(ndim_in))
        dims = {_dim(d, ndim_in) for d in ([dims] if isinstance(dims, int) else dims)}
        keepdim = bool(node.args[2]) if len(node.args) > 2 else bool(node.kwargs.get("keepdim", False))
        reduced = {d: t for d, t in tags.items() if d in dims}
        self._spoil(reduced, f"{name} runs over its channels ({self._where(node)})")
        out: Tags = {}
        for d, tag in tags.items():
            if d in dims:
                continue
            new = d if keepdim else d - sum(1 for r in dims if r < d)
            out[new] = tag  # a sum, mean or max over zeros is zero
        return out

    def _split(self, node: Node, name: str) -> list[Tags]:
        tags = self._of(node.args[0])
        ndim = len(_shape(node.args[0]))
        dim = _dim(node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0), ndim)
        if name == "unbind":
            dim = _dim(node.args[1] if len(node.args) > 1 else 0, ndim)
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
