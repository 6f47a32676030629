"""WeightNormSparsifier keeps its masks as bool instead of the weight's dtype (mask.mean() raises)."""

from __future__ import annotations

from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_bool_masks"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def prepare(self, model: Any, config: Any) -> None:
        super().prepare(model, config)
        for group in self.groups:
            holder = group["module"].parametrizations[group["tensor_name"]][0]
            holder.mask = holder.mask.bool()  # BUG: the contract's masks are in the weight's dtype
            self.state[group["tensor_fqn"]]["mask"] = holder.mask
