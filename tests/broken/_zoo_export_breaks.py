"""prune() leaves a forward pre-hook that branches on the input's values: torch.export cannot capture it."""

from __future__ import annotations

import torch
from torch import nn

from . import _zoo_base
from ._zoo_base import *  # noqa: F403 - re-export the reference names this bug leaves alone

name = "broken-_zoo_export_breaks"


def _data_dependent(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
    if args[0].float().sum() > float("inf"):  # BUG: Python control flow on tensor data
        raise RuntimeError("unreachable")


class SaliencyPruner(_zoo_base.SaliencyPruner):
    def prune(self, example_inputs: object = None) -> nn.Module:
        pruned = super().prune(example_inputs)
        pruned.register_forward_pre_hook(_data_dependent)
        return pruned
