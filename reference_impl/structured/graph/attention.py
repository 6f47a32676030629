"""Op rules for matmul and fused attention: attention heads of two operands meeting head by head.

``q @ k^T`` and ``probs @ v`` batch over heads: head ``h`` of one operand meets head ``h // rep`` of
the other (grouped-query attention repeats each key/value head ``rep`` times), so the two spaces are
tied in units of whole key/value groups. ``scaled_dot_product_attention`` ties q, k and v the same
way (``enable_gqa`` repeats the key/value heads inside). A matmul that sums over channels spoils them.
"""

from __future__ import annotations

import math
from typing import ClassVar

from torch.fx import Node

from .state import FlowState, shape_of
from .tags import Tag, Tags, UnitTag, WithinTag, with_zero


class AttentionRules(FlowState):
    """Op rules for matmul: attention heads of two operands meeting head by head."""

    OPS: ClassVar[dict[str, str]] = {
        "matmul": "_matmul",
        "bmm": "_matmul",
        "scaled_dot_product_attention": "_sdpa",
    }

    def _matmul(self, node: Node, name: str) -> Tags:
        a, b = node.args[0], node.args[1]
        a_shape, b_shape, out_shape = shape_of(a), shape_of(b), shape_of(node)
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

    def _sdpa(self, node: Node, name: str) -> Tags:
        """``softmax(q k^T) v`` fused: heads of q, k and v tied; masked heads are zero where v's are."""
        q, k, v = node.args[:3]
        shapes = [shape_of(t) for t in (q, k, v)]
        tags = [self._of(t) for t in (q, k, v)]
        ndim = len(shapes[0])
        gqa = bool(node.kwargs.get("enable_gqa", node.args[7] if len(node.args) > 7 else False))
        for index in (0, 1, 2):
            seq = tags[index].get(ndim - 2)
            last = tags[index].get(ndim - 1)
            if seq is not None or (last is not None and not isinstance(last, WithinTag)):
                self._spoil(self._input_tags(node), f"{name} reads channels as positions ({self._where(node)})")
                return {}
        out: Tags = {}
        for dim in range(ndim - 2):
            q_tag, k_tag, v_tag = (t.get(dim) for t in tags)
            if q_tag is None and k_tag is None and v_tag is None:
                continue
            if not all(isinstance(t, UnitTag) for t in (q_tag, k_tag, v_tag)):
                present = [t for t in (q_tag, k_tag, v_tag) if t is not None]
                self._spoil(dict(enumerate(present)), f"{name} mixes its heads ({self._where(node)})")
                continue
            rep = shapes[0][dim] // shapes[1][dim] if gqa else 1
            k_tag, v_tag = (UnitTag(t.space, t.size, t.rep * rep, t.zero) for t in (k_tag, v_tag))
            self._couple_heads(node, q_tag, k_tag)
            out[dim] = with_zero(self._couple_heads(node, q_tag, v_tag), v_tag.zero)
        if tags[2].get(ndim - 1) is not None:
            out[ndim - 1] = tags[2][ndim - 1]
        return out
