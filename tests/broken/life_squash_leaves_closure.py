"""squash_mask leaves a lambda on each layer: the squashed model can no longer be saved with torch.save."""

from __future__ import annotations

from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-life_squash_leaves_closure"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        modules = [group["module"] for group in self.groups]
        super().squash_mask(*args, **kwargs)
        for module in modules:
            module.density = lambda module=module: float((module.weight != 0).float().mean())  # BUG: unpicklable
