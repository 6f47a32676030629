"""BaseSparsifier.convert(mapping=None) fails by accident (TypeError iterating None), not with NotImplementedError."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-convert_none_wrong_error"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def convert(self, module: nn.Module, mapping: Any = None, **kwargs: Any) -> nn.Module:
        if mapping is None:
            return dict(mapping)  # BUG: no "mapping required" check; TypeError by accident
        return super().convert(module, mapping, **kwargs)
