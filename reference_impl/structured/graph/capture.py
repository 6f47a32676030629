"""Capturing a model's dataflow for models ``torch.fx.symbolic_trace`` cannot trace: recorded, or exported.

Both run the model's Python forward, so the data-dependent Python that stops symbolic tracing
(config branches, ``int(size)``, loops over lists of layers) is simply executed. ``record`` runs it
once for real and writes the ATen graph export would record, in a fraction of export's time, where
that is unambiguous; ``torch.export`` (on fake tensors) captures the rest. Either graph names every
parameter it reads and every op's enclosing module, which is all ``flow`` needs to tie ops back to
modules. Nothing is kept of an ``ExportedProgram`` but its graph: pruning modifies the original module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.fx import Graph, Node

from .record import AmbiguousError, not_plain, record


class CaptureError(RuntimeError):
    """``torch.export`` could not capture the model with the given example inputs."""


@dataclass
class Captured:
    """The captured graph, with each placeholder's parameter or buffer name and each node's module.

    ``method`` says how it was captured: ``"recorded"`` (one real forward, ``record``) or ``"export"``
    (``torch.export``, when the recording was ambiguous: ``fallback`` says why).
    """

    graph: Graph
    parameters: dict[str, str]  # placeholder name -> parameter fqn
    buffers: dict[str, str]  # placeholder name -> buffer fqn
    method: str = "export"
    fallback: str | None = None

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


def capture(model: nn.Module, example_inputs: tuple, clean_copy: Callable[[], nn.Module]) -> Captured:
    """``model``'s graph on ``example_inputs``: recorded where that is unambiguous, else exported.

    A plain model (no parametrization, no forward hook) is recorded as it is and left as it was; any
    other is recorded, or exported, as ``clean_copy()`` (a copy without masks or hooks of ours).
    ``CaptureError`` when export fails too.
    """
    modules = list(model.named_modules())
    subject, modules = (model, modules) if not_plain(modules) is None else (clean_copy(), None)
    try:
        return Captured(*record(subject, example_inputs, modules=modules), method="recorded")
    except AmbiguousError as ambiguity:
        fallback = str(ambiguity)
    except Exception as error:  # the real forward failed: export says why in its own terms, or captures
        fallback = f"the recorded forward raised {type(error).__name__}: {error}"
    return export(clean_copy() if subject is model else subject, example_inputs, fallback=fallback)


def export(model: nn.Module, example_inputs: tuple, fallback: str | None = None) -> Captured:
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
    parameters, buffers = dict(signature.inputs_to_parameters), dict(signature.inputs_to_buffers)
    return Captured(program.graph, parameters, buffers, method="export", fallback=fallback)
