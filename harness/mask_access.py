"""Where a backend keeps its masks, so the suites can check mask semantics whatever the storage.

``torch.ao.pruning`` keeps a mask in a parametrization: ``module.parametrizations.weight[0].mask``,
the unmasked tensor as ``module.parametrizations.weight.original``. That is the default here. A
library that stores masks differently (``torch.nn.utils.prune``: a ``weight_mask`` buffer and a
forward pre-hook) exports a ``mask_access`` object with the same four methods, and the suites then
check what its masks *are* instead of failing at the first read of where they *live*. The storage
itself is reported in the scoreboard header (a backend with its own ``mask_access`` says so).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
from torch import nn
from torch.nn.utils import parametrize


class MaskAccess(Protocol):
    """How to find a backend's masks on a module; ``tensor_name=None`` means any tensor of it."""

    def is_masked(self, module: nn.Module, tensor_name: str | None) -> bool: ...

    def mask_holder(self, module: nn.Module, tensor_name: str) -> object | None:
        """The backend's ``FakeSparsity`` object that applies the mask, or None."""

    def mask_of(self, module: nn.Module, tensor_name: str) -> torch.Tensor | None:
        """The live mask tensor (writes to it change the mask), or None when there is none."""

    def original_of(self, module: nn.Module, tensor_name: str) -> torch.Tensor:
        """The unmasked tensor the mask applies to (writes to it change the weight)."""


class ParametrizationAccess:
    """The contract's storage: the first parametrization of the tensor that carries a ``mask``."""

    def is_masked(self, module: nn.Module, tensor_name: str | None) -> bool:
        return parametrize.is_parametrized(module, tensor_name)

    def mask_holder(self, module: nn.Module, tensor_name: str) -> object | None:
        if not parametrize.is_parametrized(module, tensor_name):
            return None
        return next(
            (p for p in module.parametrizations[tensor_name] if isinstance(getattr(p, "mask", None), torch.Tensor)),
            None,
        )

    def mask_of(self, module: nn.Module, tensor_name: str) -> torch.Tensor | None:
        holder = self.mask_holder(module, tensor_name)
        return None if holder is None else holder.mask

    def original_of(self, module: nn.Module, tensor_name: str) -> torch.Tensor:
        return module.parametrizations[tensor_name].original


PARAMETRIZATIONS = ParametrizationAccess()
_active: list[MaskAccess] = [PARAMETRIZATIONS]


def active_mask_access() -> MaskAccess:
    """The storage of the backend whose test is running (parametrizations outside any test)."""
    return _active[-1]


@contextmanager
def using_mask_access(access: MaskAccess | None) -> Iterator[None]:
    """Read masks through ``access`` (None: parametrizations) for the duration of one test."""
    _active.append(access or PARAMETRIZATIONS)
    try:
        yield
    finally:
        _active.pop()
