"""prune() runs under torch.inference_mode(), so the shrunk parameters are inference tensors autograd cannot train."""

from __future__ import annotations

import torch
from torch.fx import GraphModule

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-structured_inference_tensors"


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    def prune(self) -> GraphModule:
        with torch.inference_mode():  # BUG: "faster", but every tensor it creates is an inference tensor
            return super().prune()
