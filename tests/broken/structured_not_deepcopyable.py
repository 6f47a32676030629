"""prune() leaves a threading lock on the pruned model: copy.deepcopy (and torch.save) of it fail."""

from __future__ import annotations

import threading

from torch.fx import GraphModule

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-structured_not_deepcopyable"


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    def prune(self) -> GraphModule:
        pruned = super().prune()
        pruned.prune_lock = threading.Lock()  # BUG: "for thread-safe re-pruning"; a lock cannot be copied
        return pruned
