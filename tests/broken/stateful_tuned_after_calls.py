"""WeightNormSparsifier switches to a "tuned" path after 150 calls in the process, which zeroes one weight too many:
whether a run sees it depends on how many calls its process made before (the worker count, the order)."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-stateful_tuned_after_calls"

WARM_UP_CALLS = 150
"""Calls of update_mask in this process before the tuned path takes over."""
_calls = [0]


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, **group: Any) -> None:
        super().update_mask(module, tensor_name, **group)
        _calls[0] += 1
        if _calls[0] > WARM_UP_CALLS:  # BUG: the tuned path's off-by-one zeroes the first kept weight too
            mask = module.parametrizations[tensor_name][0].mask
            kept = mask.flatten().nonzero()
            if len(kept):
                mask.view(-1)[kept[0, 0]] = 0
