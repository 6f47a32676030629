"""BaseSparsifier.prepare merges the constructor defaults over each config entry instead of under it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-defaults_override_config"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def prepare(self, model: nn.Module, config: Sequence[Mapping[str, Any]] | None) -> None:
        super().prepare(model, config)
        for group in self.groups:
            group.update(self.defaults)  # BUG: should be defaults first, then the entry
