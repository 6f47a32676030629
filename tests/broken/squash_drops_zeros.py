"""BaseSparsifier.squash_mask removes the parametrization with leave_parametrized=False, so weights lose their zeros."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch.nn.utils import parametrize

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-squash_drops_zeros"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def squash_mask(
        self,
        params_to_keep: Sequence[str] | None = None,
        params_to_keep_per_layer: Mapping[str, Sequence[str]] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        for group in self.groups:
            module, tensor_name = group["module"], group["tensor_name"]
            if parametrize.is_parametrized(module, tensor_name):
                # BUG: the original dense weight comes back instead of the masked one
                parametrize.remove_parametrizations(module, tensor_name, leave_parametrized=False)
        super().squash_mask(params_to_keep, params_to_keep_per_layer)
