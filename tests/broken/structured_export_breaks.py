"""prune() adds an input guard (raise unless every input is finite) to the pruned graph: torch.export fails on it."""

from __future__ import annotations

import torch
from torch.fx import GraphModule

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-structured_export_breaks"


def reject_non_finite(x: torch.Tensor) -> torch.Tensor:
    if not torch.isfinite(x).all():  # BUG: data-dependent control flow in the model's forward
        raise ValueError("the pruned model got a non-finite input")
    return x


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    def prune(self) -> GraphModule:
        pruned = super().prune()
        graph = pruned.graph
        for placeholder in [node for node in graph.nodes if node.op == "placeholder"]:
            with graph.inserting_after(placeholder):
                guard = graph.call_function(reject_non_finite, (placeholder,))
            placeholder.replace_all_uses_with(guard, delete_user_cb=lambda user, guard=guard: user is not guard)
        pruned.recompile()
        return pruned
