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

The rules are written for ops, not models (one mixin per family of ops): nothing here knows ResNet
from Llama.
"""

from __future__ import annotations

from typing import Any

from torch.fx import Node

from .attention import AttentionRules
from .elementwise import BINARY, NOT_ZERO_PRESERVING, SPATIAL, ZERO_PRESERVING, ElementwiseRules
from .layers import LayerRules
from .shapes import ShapeRules
from .spaces import SpaceGraph
from .state import op_name

IGNORED = frozenset({"sym_size", "_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size"})
"""Ops that only check or read shapes."""

PRODUCERS = frozenset({"linear", "conv2d", "embedding"})
"""Ops that open a space even when nothing they read carries channels."""


class ChannelFlow(LayerRules, ElementwiseRules, ShapeRules, AttentionRules):
    """One walk over a captured graph, filling a ``SpaceGraph``; see the module docstring."""

    def run(self) -> SpaceGraph:
        rules = {}
        for family in (LayerRules, ElementwiseRules, ShapeRules, AttentionRules):
            rules.update({op: getattr(self, method) for op, method in family.OPS.items()})
        self._rules = rules
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
        if not inputs and name not in PRODUCERS:
            return {}
        try:
            return rule(node, name)
        except Exception as error:  # an op used in a way its rule did not foresee: spoil, never crash
            self._spoil(inputs, f"prune() could not follow {name} ({self._where(node)}: {type(error).__name__})")
            return {}

    def _output(self, node: Node) -> None:
        for arg in node.all_input_nodes:
            self._spoil(self._of(arg), "it reaches the model's output (its shape would change)")
