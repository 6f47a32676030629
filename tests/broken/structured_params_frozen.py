"""prune() hands back shrunk parameters that no longer require grad: the pruned layers cannot be fine-tuned."""

from __future__ import annotations

import torch
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_storing_with

name = "broken-structured_params_frozen"


def _set_frozen_param(module: nn.Module, name: str, tensor: torch.Tensor) -> None:
    setattr(module, name, nn.Parameter(tensor.contiguous(), requires_grad=False))  # BUG: the old flag is dropped


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_storing_with(_set_frozen_param)
