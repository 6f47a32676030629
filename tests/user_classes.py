"""Pruners a user might write, each with one realistic bug, for ``prunebench check`` to catch.

They derive from the correct classes of ``examples/own_pruners`` and change one thing, so a failure
can only come from that change; ``tests/test_check_command.py`` runs the command on each.
"""

from __future__ import annotations

from typing import Any

import torch
from own_pruners import L1RowPruner, MagnitudeSparsifier
from torch import nn


class MagnitudeIgnoringTensorLevel(MagnitudeSparsifier):
    """Reads the constructor's level instead of the group's: a per-tensor ``sparsity_level`` is ignored."""

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        super().update_mask(module, tensor_name, self.defaults["sparsity_level"], **kwargs)


class L2RowPruner(L1RowPruner):
    """Claims the L1 rule of ``SaliencyPruner`` but ranks rows by their L2 norm."""

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        weight = getattr(module, tensor_name)
        mask = module.parametrizations[tensor_name][0].mask
        norms = weight.detach().flatten(1).norm(dim=1)
        keep = torch.ones_like(mask, dtype=torch.bool)
        keep[norms.topk(int(sparsity_level * norms.numel()), largest=False).indices] = False
        mask.copy_(keep)
