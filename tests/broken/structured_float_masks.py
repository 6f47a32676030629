"""BaseStructuredSparsifier stores its row masks as float32 0/1 tensors instead of bool."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import with_globals

name = "broken-structured_float_masks"


def _float_mask_parametrization(mask: torch.Tensor) -> reference_impl.FakeStructuredSparsity:
    """BUG: the mask is registered as ``torch.ones(rows)`` would make it, float32."""
    return reference_impl.FakeStructuredSparsity(mask.float())


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    _prepare = with_globals(
        reference_impl.BaseStructuredSparsifier._prepare, FakeStructuredSparsity=_float_mask_parametrization
    )
