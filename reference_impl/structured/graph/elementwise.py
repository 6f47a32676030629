"""Op rules for element-wise ops, pools and reductions: what they do to masked channels.

Unary ops keep the tags; whether masked channels stay zero depends on f(0). Binary ops tie two
tagged operands (a residual add, a gated product) and spoil channels that meet untagged values of
their own per channel, except a parameter multiplying them (which is then cut along). Softmax and
reductions over channels spoil them; over other dims they keep them.
"""

from __future__ import annotations

from typing import ClassVar

from torch.fx import Node

from .state import FlowState, norm_dim, shape_of
from .tags import ChannelTag, Tag, Tags, WithinTag, with_zero

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

BINARY = frozenset({"add", "sub", "mul", "div", "maximum", "minimum"})


class ElementwiseRules(FlowState):
    """Op rules for element-wise ops, pools and reductions: what they do to masked channels."""

    OPS: ClassVar[dict[str, str]] = {
        "expand": "_same",
        "hardtanh": "_hardtanh",
        "pow": "_pow",
        "softmax": "_softmax",
        "_softmax": "_softmax",
        "log_softmax": "_softmax",
        "mean": "_reduce",
        "sum": "_reduce",
        "amax": "_reduce",
        "add": "_binary",
        "sub": "_binary",
        "mul": "_binary",
        "div": "_binary",
        "maximum": "_binary",
        "minimum": "_binary",
    }

    def _same(self, node: Node, name: str) -> Tags:
        """``expand``: the same values, maybe under new leading dims."""
        shift = len(shape_of(node)) - len(shape_of(node.args[0]))
        return {d + shift: t for d, t in self._of(node.args[0]).items()}

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
        out_shape = shape_of(node)
        ndim = len(out_shape)
        operands = [a for a in node.args[:2]]
        merged: Tags = {}
        for dim in range(ndim):
            present = []  # (operand index, tag or None when untagged but varying along dim)
            for index, operand in enumerate(operands):
                shape = shape_of(operand)
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

    def _spatial(self, node: Node, name: str) -> Tags:
        """Pools, upsampling and padding act on the last two dims (padding: on as many as it pads)."""
        tags = self._of(node.args[0])
        ndim = len(shape_of(node))
        acted = 2
        zero = True
        if name in ("pad", "constant_pad_nd"):
            acted = len(node.args[1]) // 2
            mode = node.args[2] if len(node.args) > 2 and name == "pad" else "constant"
            value = node.args[-1] if len(node.args) > (3 if name == "pad" else 2) else 0.0
            zero = mode != "constant" or not value  # a constant border other than 0 is not a zero channel
        spatial = {d: t for d, t in tags.items() if d >= ndim - acted}
        self._spoil(spatial, f"{name} runs over its channels ({self._where(node)})")
        return {d: (t if zero else with_zero(t, False)) for d, t in tags.items() if d < ndim - acted}

    def _softmax(self, node: Node, name: str) -> Tags:
        tags = self._of(node.args[0])
        dim = norm_dim(node.args[1], len(shape_of(node)))
        if dim in tags:
            self._spoil({0: tags[dim]}, f"{name} normalizes over its channels ({self._where(node)})")
        return {d: with_zero(t, False) for d, t in tags.items()}

    def _reduce(self, node: Node, name: str) -> Tags:
        tags = self._of(node.args[0])
        ndim_in = len(shape_of(node.args[0]))
        dims = node.args[1] if len(node.args) > 1 else None
        if not dims and dims != 0:  # None or []: every dim
            dims = list(range(ndim_in))
        dims = {norm_dim(d, ndim_in) for d in ([dims] if isinstance(dims, int) else dims)}
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
