"""prune() switches the model to eval mode (to trace BatchNorm in its inference form) and never switches it back."""

from __future__ import annotations

from torch.fx import GraphModule

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-structured_eval_after_prune"


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    def prune(self) -> GraphModule:
        self.model.eval()  # BUG: the caller's train mode is lost
        return super().prune()
