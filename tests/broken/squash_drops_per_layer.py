"""BaseSparsifier.squash_mask ignores params_to_keep_per_layer, keeping only the global params_to_keep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-squash_drops_per_layer"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def squash_mask(self, params_to_keep: Sequence[str] | None = None, *args: Any, **kwargs: Any) -> None:
        super().squash_mask(params_to_keep)  # BUG: params_to_keep_per_layer is accepted, then dropped
