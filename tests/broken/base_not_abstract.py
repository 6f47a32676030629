"""BaseSparsifier gives update_mask a do-nothing default, so the base class can be instantiated and steps are no-ops."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-base_not_abstract"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def update_mask(self, module: nn.Module, tensor_name: str, **kwargs: Any) -> None:
        """BUG: should stay abstract."""
