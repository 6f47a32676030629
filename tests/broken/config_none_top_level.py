"""BaseSparsifier.prepare(model, config=None) looks only at the model's direct children, missing nested Linears."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-config_none_top_level"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def prepare(self, model: nn.Module, config: Sequence[Mapping[str, Any]] | None) -> None:
        if config is None:  # BUG: named_children() where named_modules() is needed
            config = [
                {"tensor_fqn": f"{fqn}.weight"}
                for fqn, child in model.named_children()
                if type(child) in self.supported_modules
            ]
        super().prepare(model, config)
