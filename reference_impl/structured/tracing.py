"""Tracing the model for ``prune()``: a ``GraphModule`` that lives like the model it came from.

``torch.fx.symbolic_trace`` alone returns a module that differs from the traced one in two ways a
user notices after pruning:

* Container modules on the way to a called layer (``seq`` of ``seq.0``) are rebuilt as fresh
  ``nn.Module``s, in train mode whatever mode the model was in.
* Under ``from __future__ import annotations`` the forward's annotations are strings, which fx
  records as such; ``GraphModule.__reduce__`` then cannot name them and ``torch.save`` of the
  module fails (pytorch/pytorch#167117). They are resolved (or dropped) before the code is generated.

A subclass of Linear, Conv2d or LSTM is kept as one call (``LayerTracer``), where ``symbolic_trace``
would trace into a class from outside ``torch.nn``: ``prune()`` then sees the layer, which it prunes as
its parent or, when it has a forward of its own, leaves whole.

A plain ``nn.Sequential`` of distinct leaf modules (the common deep stack) is not traced at all: its
graph is fully determined by its children, so it is built node for node as the tracer would record
it, without running the tracer's proxies through every call.
"""

from __future__ import annotations

import typing
from collections import OrderedDict

from torch import nn
from torch.fx import Graph, GraphModule, Tracer

from .masks import STRUCTURED_MODULES


def _annotations(model: nn.Module) -> dict[str, object]:
    """The model forward's annotations, evaluated; empty when they cannot be (names only for type checkers)."""
    try:
        return typing.get_type_hints(type(model).forward)
    except Exception:  # any error evaluating a user's annotation: they are only comments to the trace
        return {}


def _resolve_string_annotations(graph: Graph, model: nn.Module) -> None:
    """Replace every string annotation of the graph's inputs and output by its type, or None."""
    hints: dict[str, object] | None = None
    for node in graph.nodes:
        if isinstance(node.type, str):
            hints = _annotations(model) if hints is None else hints
            node.type = hints.get("return" if node.op == "output" else node.target)


def _copy_training_flags(traced: GraphModule, model: nn.Module) -> None:
    """Each module of ``traced`` in the mode of the module of ``model`` at the same path."""
    originals = dict(model.named_modules())
    for fqn, module in traced.named_modules():
        original = originals.get(fqn)
        if original is not None:
            module.training = original.training


class LayerTracer(Tracer):
    """``symbolic_trace``'s tracer, with every subclass of a prunable layer (Linear, Conv2d, LSTM) kept as
    one call: a subclass that computes as its parent is then pruned as its parent, and one with its own
    forward stays one opaque call that ``prune()`` leaves whole, instead of its insides being traced."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, tuple(STRUCTURED_MODULES)) or super().is_leaf_module(m, module_qualified_name)


def _sequential_graph(model: nn.Module) -> Graph | None:
    """The graph ``Tracer().trace`` records for ``model`` when it is a plain Sequential of distinct leaf modules.

    None for anything else, which the tracer then handles: a subclass may override ``forward``; a
    nested container is traced through, not called; a module listed twice is called twice but named
    once (``named_children`` drops the repeat, and prune() must see both calls to refuse resizing
    it); a ``None`` entry is skipped by ``forward``. Node names, targets, arguments and
    ``nn_module_stack`` metadata are the tracer's; the tests compare both graphs node for node.
    """
    if type(model) is not nn.Sequential:
        return None
    children = list(model._modules.items())  # what Sequential.forward iterates, repeats included
    if any(child is None for _, child in children) or len({id(child) for _, child in children}) != len(children):
        return None
    tracer = LayerTracer()
    if not all(tracer.is_leaf_module(child, name) for name, child in children):
        return None
    graph = Graph(tracer_cls=Tracer)  # as symbolic_trace's: see ``trace``
    value = graph.placeholder("input")  # nn.Sequential.forward(self, input)
    for name, child in children:
        value = graph.call_module(name, (value,))
        value.meta["nn_module_stack"] = OrderedDict([(name, (name, type(child)))])
    graph.output(value)
    return graph


def trace(model: nn.Module) -> GraphModule:
    """``symbolic_trace(model)``, with the modes of every module kept and ``torch.save`` working."""
    graph = _sequential_graph(model)
    if graph is not None:
        return GraphModule(model, graph, type(model).__name__)  # children are the model's own
    tracer = LayerTracer()
    graph = tracer.trace(model)
    graph._tracer_cls = Tracer  # a saved GraphModule names this class: loading it must not need prunebench
    _resolve_string_annotations(graph, model)
    traced = GraphModule(tracer.root, graph, type(model).__name__)
    _copy_training_flags(traced, model)
    return traced
