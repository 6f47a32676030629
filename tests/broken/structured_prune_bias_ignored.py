"""BaseStructuredSparsifier's bias hook adds the whole bias even with prune_bias=True, so masked rows output it."""

from __future__ import annotations

import torch
from prunebench.reference_impl.structured import bias

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import with_globals

name = "broken-structured_prune_bias_ignored"


class _UnmaskedBiasHook(bias.BiasHook):
    def masked(self, bias: torch.Tensor) -> torch.Tensor:
        return bias  # BUG: should zero the masked rows when self.prune_bias


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    _prepare = with_globals(
        reference_impl.BaseStructuredSparsifier._prepare,
        attach_bias_handling=with_globals(bias.attach_bias_handling, BiasHook=_UnmaskedBiasHook),
    )
