"""Capturing a model's dataflow with ``torch.export`` for models ``torch.fx.symbolic_trace`` cannot trace.

``torch.export`` runs the real forward on fake tensors, so the data-dependent Python that stops
symbolic tracing (config branches, ``int(size)``, loops over lists of layers) is simply executed.
The ATen graph it records names every parameter it reads (``graph_signature``) and every op's
enclosing modules (``nn_module_stack``), which is all ``flow`` needs to tie ops back to modules.
Nothing is kept of the ``ExportedProgram`` but its graph: pruning modifies the original module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.fx import Graph, Node


class CaptureError(RuntimeError):
    """``torch.export`` could not capture the model with the given example inputs."""


@dataclass
class Captured:
    """The exported graph, with each placeholder's parameter or buffer name and each node's module."""

    graph: Graph
    parameters: dict[str, str]  # placeholder name -> parameter fqn
    buffers: dict[str, str]  # placeholder name -> buffer fqn

    def parameter_of(self, node: object) -> str | None:
        """The fqn of the parameter ``node`` reads directly, if it is a parameter placeholder."""
        if isinstance(node, Node) and node.op == "placeholder":
            return self.parameters.get(node.name)
        return None

    @staticmethod
    def module_of(node: Node) -> str:
        """The fqn of the innermost module whose forward ran ``node`` ('' for the root)."""
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return ""
        return list(stack.values())[-1][0]


def check_example_inputs(example_inputs: object) -> tuple:
    """``example_inputs`` as a tuple of positional inputs, or a ``TypeError`` naming what it got."""
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if not isinstance(example_inputs, Sequence) or isinstance(example_inputs, str):
        raise TypeError(
            f"example_inputs must be a tuple of the model's positional inputs, got {type(example_inputs).__name__}"
        )
    return tuple(example_inputs)


def capture(model: nn.Module, example_inputs: tuple) -> Captured:
    """Export ``model`` (not modified) on ``example_inputs``; ``CaptureError`` says why it failed."""
    try:
        with torch.no_grad():
            program = torch.export.export(model, example_inputs, strict=False)
    except Exception as error:  # any failure of export is the user's model meeting export's limits
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__} with the given example_inputs "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from error
    signature = program.graph_signature
    return Captured(program.graph, dict(signature.inputs_to_parameters), dict(signature.inputs_to_buffers))
