"""prune() cuts a BatchNorm2d, LayerNorm or PReLU after a pruned layer to its first k channels, not the kept ones."""

from __future__ import annotations

import torch
from prunebench.reference_impl.structured import rewrite
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with, with_globals

name = "broken-structured_channel_modules_truncated"


def _truncate(module: nn.Module, keep_index: torch.Tensor) -> None:
    """BUG: ``running_mean[:k]`` and friends, right only when the masked channels are the last ones."""
    rewrite.shrink_channel_module(module, torch.arange(keep_index.numel(), device=keep_index.device))


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(apply_plans=with_globals(rewrite.apply_plans, shrink_channel_module=_truncate))
