"""prune() stores every shrunk Linear/Conv2d parameter in float32, casting a float16/bfloat16 model's pruned layers."""

from __future__ import annotations

import torch
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_storing_with

name = "broken-structured_casts_to_float32"


def _set_float32_param(module: nn.Module, name: str, tensor: torch.Tensor) -> None:
    old = getattr(module, name)
    setattr(module, name, nn.Parameter(tensor.float().contiguous(), requires_grad=old.requires_grad))  # BUG


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_storing_with(_set_float32_param)
