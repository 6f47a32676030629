"""``FPGMPruner``: filter pruning via geometric median (He et al., https://arxiv.org/abs/1811.00250)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..validation import KEEP_ALL_MASK_ALL, LevelPolicy, check_sparsity_level, resolve_function
from .base_structured_sparsifier import BaseStructuredSparsifier
from .masks import row_mask_parametrization

DistanceFn = Callable[[torch.Tensor], torch.Tensor]


def l1_distance(rows: torch.Tensor) -> torch.Tensor:
    """Pairwise L1 distances between the rows of a 2-D tensor."""
    return torch.cdist(rows, rows, p=1)


def l2_distance(rows: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances between the rows of a 2-D tensor."""
    return torch.cdist(rows, rows, p=2)


_DISTANCES: dict[int, DistanceFn] = {1: l1_distance, 2: l2_distance}


class FPGMPruner(BaseStructuredSparsifier):
    """Mask the filters closest to the geometric median of their layer: the most replaceable ones.

    For each filter (row, flattened) the summed distance to all other filters is computed
    (``compute_distance``); the ``round(rows * sparsity_level)`` filters with the smallest sum are
    masked. ``dist`` is 1 (L1), 2 or None (L2), or a callable mapping an (rows, features) tensor to
    its (rows, rows) distance matrix. ``sparsity_level <= 0`` keeps every filter, ``>= 1`` masks all
    (NaN and non-numbers are errors). Filters holding NaN or inf are masked after every finite one.

    Distances are measured on the unmasked weight and the mask is recomputed on each ``step()``, so
    repeated steps give the same mask; torch measures the masked weight and only ever clears more
    rows, so its repeated steps can mask more than ``sparsity_level``.
    """

    level_policy: ClassVar[LevelPolicy] = KEEP_ALL_MASK_ALL
    """torch's explicit branches: ``<= 0`` keeps every filter, ``>= 1`` masks them all, silently."""

    def __init__(self, sparsity_level: float = 0.5, dist: int | DistanceFn | None = None) -> None:
        check_sparsity_level(sparsity_level, self.level_policy)
        self.dist_fn: DistanceFn = resolve_function("dist", dist, _DISTANCES, default=2)
        super().__init__(defaults={"sparsity_level": sparsity_level})

    def validate_group(self, group: Mapping[str, Any]) -> None:
        super().validate_group(group)
        check_sparsity_level(group.get("sparsity_level"), self.level_policy, f" for {group['tensor_fqn']!r}")

    def compute_distance(self, weight: torch.Tensor) -> torch.Tensor:
        """Per filter, the sum of ``|dist_fn|`` to every filter (itself included, at distance 0).

        Half-precision weights are measured in float32 (``cdist`` has no float16/bfloat16 kernel).
        A filter holding NaN or inf has no meaningful distance: it is left out of the other filters'
        sums and gets distance ``inf`` itself, so it is masked only after every finite filter.
        """
        rows = weight.reshape(weight.shape[0], -1)
        if rows.dtype in (torch.float16, torch.bfloat16):
            rows = rows.float()
        finite = rows.isfinite().all(dim=1)
        zero = torch.zeros((), dtype=rows.dtype, device=rows.device)
        distances = self.dist_fn(torch.where(finite[:, None], rows, zero)).abs()
        sums = torch.where(finite[None, :], distances, zero).sum(1)
        return torch.where(finite, sums, torch.full((), torch.inf, dtype=sums.dtype, device=sums.device))

    _compute_distance = compute_distance  # torch's name, which its tests call

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        parametrization = row_mask_parametrization(module, tensor_name)
        mask = parametrization.mask
        rows = mask.numel()
        level = check_sparsity_level(sparsity_level, self.level_policy)  # clamped first: round(inf * rows) overflows
        count = 0 if level == 0 else rows if level == 1 else min(round(level * rows), rows)
        # the masked weight, as torch scores it: filters pruned by an earlier step count as zero filters
        distance = self.compute_distance(getattr(module, tensor_name).detach()) if count else None
        mask.fill_(True)
        if distance is not None:
            mask[torch.topk(distance, count, largest=False).indices] = False
