"""SparseGPTSparsifier leaves each pruned layer a persistent ``pruning_mask`` buffer the dense architecture lacks."""

from __future__ import annotations

from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-oneshot_extra_state"


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        masks = {group["tensor_fqn"]: group["module"].parametrizations.weight[0].mask.clone() for group in self.groups}
        super().squash_mask(*args, **kwargs)
        for group in self.groups:  # BUG: a buffer saved with the model, unknown to a fresh one
            group["module"].register_buffer("pruning_mask", masks[group["tensor_fqn"]])
