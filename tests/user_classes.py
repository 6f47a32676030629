"""Pruners a user might write: with one realistic bug each, for ``prunebench check`` to catch, and correct
ones written the way their authors would, which it must pass.

The buggy ones derive from the correct classes of ``examples/own_pruners`` and change one thing, so a
failure can only come from that change; ``tests/test_check_command.py`` runs the command on each.
"""

from __future__ import annotations

from typing import Any

import torch
from own_pruners import GradualMagnitudeSparsifier, L1RowPruner, MagnitudeSparsifier
from prunebench.reference_impl import WeightNormSparsifier as ReferenceWeightNorm
from torch import nn
from torch.ao.pruning._experimental.pruner import BaseStructuredSparsifier


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


# --- correct classes written as their authors would, which the checks must not call wrong ---


class KeywordSaliencyPruner(BaseStructuredSparsifier):
    """SaliencyPruner's rule (lowest-L1 rows go) with a plain keyword constructor, as most authors write one."""

    def __init__(self, sparsity_level: float = 0.5) -> None:
        super().__init__(defaults={"sparsity_level": sparsity_level})

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        weight = getattr(module, tensor_name).detach()
        norms = weight.abs().flatten(1).sum(dim=1)
        mask = module.parametrizations[tensor_name][0].mask
        keep = torch.ones_like(mask, dtype=torch.bool)
        pruned = int(sparsity_level * norms.numel())
        if pruned:
            keep[norms.topk(pruned, largest=False).indices] = False
        mask.copy_(keep)


class KeywordWeightNormSparsifier(ReferenceWeightNorm):
    """WeightNormSparsifier's rule with keyword arguments and no ``norm`` (always L2): the suites' tests
    that choose a norm do not apply to it, every other one does."""

    def __init__(
        self, sparsity_level: float = 0.5, sparse_block_shape: tuple[int, int] = (1, 4), zeros_per_block=None
    ) -> None:
        super().__init__(
            sparsity_level=sparsity_level, sparse_block_shape=sparse_block_shape, zeros_per_block=zeros_per_block
        )


# --- bugs that only show beyond the Linear chain, after the weights change, or in half precision ---


class L1RowPrunerLastDimNorm(L1RowPruner):
    """Sums |w| over the last dim: a Linear's inputs, so it is right for nn.Linear; a convolution's filter
    then keeps a norm per (input channel, kernel row) instead of one per filter."""

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        weight = getattr(module, tensor_name)
        mask = module.parametrizations[tensor_name][0].mask
        norms = weight.detach().abs().sum(dim=-1)
        pruned = int(sparsity_level * norms.numel())
        keep = torch.ones_like(mask, dtype=torch.bool)
        if pruned:
            keep[norms.topk(pruned, largest=False).indices] = False
        mask.copy_(keep)


class FirstStepMasksSparsifier(MagnitudeSparsifier):
    """A "faster" sparsifier: computes each tensor's mask at its first step and reuses it from then on."""

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        cache = self.__dict__.setdefault("_masks", {})
        fqn = kwargs["tensor_fqn"]
        if fqn not in cache:
            super().update_mask(module, tensor_name, sparsity_level, **kwargs)
            cache[fqn] = module.parametrizations[tensor_name][0].mask.clone()
        module.parametrizations[tensor_name][0].mask.copy_(cache[fqn])


_MASKS_BY_MODULE: dict[int, torch.Tensor] = {}


class ModuleIdCacheSparsifier(MagnitudeSparsifier):
    """Caches masks by ``id(module)``: a module seen again gets its old mask, whatever its weights are now."""

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        mask = module.parametrizations[tensor_name][0].mask
        cached = _MASKS_BY_MODULE.get(id(module))
        if cached is not None and cached.shape == mask.shape:
            mask.copy_(cached)
            return
        super().update_mask(module, tensor_name, sparsity_level, **kwargs)
        _MASKS_BY_MODULE[id(module)] = mask.clone()


class GradualCounterOutsideState(GradualMagnitudeSparsifier):
    """Counts its steps in an attribute instead of ``state``: a run resumed from a checkpoint restarts the ramp."""

    def current_level(self, tensor_fqn: str, sparsity_level: float, total_steps: int) -> float:
        counts = self.__dict__.setdefault("_counts", {})
        counts[tensor_fqn] = counts.get(tensor_fqn, 0) + 1
        done = min(counts[tensor_fqn], total_steps)
        return sparsity_level * (1.0 - (1.0 - done / total_steps) ** 3)


class Float32MaskSparsifier(MagnitudeSparsifier):
    """Builds its mask as float32 and installs it as is: right in float32, and a bfloat16 or float16 layer's
    masked weight becomes float32, so the model's forward fails."""

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        weight = module.parametrizations[tensor_name].original.detach()
        zeros = round(sparsity_level * weight.numel())
        keep = torch.ones(weight.numel(), device=weight.device)
        if zeros:
            keep[weight.abs().flatten().float().topk(zeros, largest=False).indices] = 0.0
        module.parametrizations[tensor_name][0].mask = keep.reshape(weight.shape)


class AmountRowPruner(BaseStructuredSparsifier):
    """Names its level ``amount``, as ``torch.nn.utils.prune`` does: it cannot be built as SaliencyPruner's
    suites build that class (with a ``sparsity_level``), which ``--like`` says up front."""

    def __init__(self, amount: float = 0.5) -> None:
        super().__init__(defaults={"amount": amount})

    def update_mask(self, module: nn.Module, tensor_name: str, amount: float, **kwargs: Any) -> None:
        weight = getattr(module, tensor_name).detach()
        norms = weight.abs().flatten(1).sum(dim=1)
        mask = module.parametrizations[tensor_name][0].mask
        keep = torch.ones_like(mask, dtype=torch.bool)
        if int(amount * norms.numel()):
            keep[norms.topk(int(amount * norms.numel()), largest=False).indices] = False
        mask.copy_(keep)
