"""SparseGPTSparsifier prunes every Linear of the model, whatever the config leaves out (an ignored head included)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-oneshot_ignored_layer_pruned"


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    def prepare(self, model: nn.Module, config: Sequence[Mapping[str, Any]] | None) -> None:
        super().prepare(model, None)  # BUG: the layers the config leaves out are pruned too
