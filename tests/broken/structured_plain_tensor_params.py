"""prune() stores shrunk weights as plain tensor attributes: they compute, but are no Parameters any more."""

from __future__ import annotations

import torch
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_storing_with

name = "broken-structured_plain_tensor_params"


def _set_plain_tensor(module: nn.Module, name: str, tensor: torch.Tensor) -> None:
    module._parameters.pop(name, None)
    setattr(module, name, tensor.contiguous())  # BUG: a plain attribute, outside parameters() and state_dict()


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_storing_with(_set_plain_tensor)
