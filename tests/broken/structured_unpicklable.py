"""prune() leaves an undo closure on the pruned model: torch.save can no longer pickle it."""

from __future__ import annotations

from torch.fx import GraphModule

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-structured_unpicklable"


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    def prune(self) -> GraphModule:
        pruned = super().prune()
        pruned.pruned_by = lambda: self  # BUG: a local function cannot be pickled
        return pruned
