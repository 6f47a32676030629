"""``SparseGPTSparsifier``: one-shot pruning that updates the kept weights to compensate (Frantar & Alistarh, 2023).

SparseGPT (arXiv:2301.00774) prunes a Linear layer ``W`` (rows = outputs, columns = inputs) so that its
outputs on the calibration inputs ``X`` change as little as possible: it minimises ``||W X - W' X||^2``
over sparse ``W'``. The error's Hessian ``H = 2 X X^T`` is the same for every row, and for one pruned
weight ``w_q`` the optimal change of the others (the Optimal Brain Surgeon step) is
``delta = -(w_q / [H^-1]_qq) * H^-1[q, :]``, with the error ``w_q^2 / [H^-1]_qq`` as its score.

The paper makes that exact for whole layers by pruning column after column, left to right, each
pruned weight's error spread over the columns not yet processed. Once columns ``< j`` are fixed, the
inverse Hessian of the rest, ``(H[j:, j:])^-1``, is read off the upper Cholesky factor ``U`` of ``H^-1``
(``U^T U = H^-1``): ``[(H[j:, j:])^-1]_00 = U_jj^2`` and its first row is ``U_jj * U[j, j:]``. So column
``j``'s weights score ``w^2 / U_jj^2`` and pruning them subtracts ``(w / U_jj) * U[j, j:]`` from the
rest of each row. In detail, as the paper does it:

- **dampening**: ``H + lambda I`` with ``lambda = dampening * mean(diag H)``, so a calibration set that
  spans few input directions (fewer samples than inputs, an input always zero) still inverts;
- **blocks** of ``columns_per_block`` columns: updates inside a block go column by column, updates of the
  columns after it once per block (the "lazy batch" update, the same arithmetic regrouped);
- **adaptive mask selection**, unstructured: at the start of each block, the ``sparsity_level`` share of
  the block's weights with the lowest scores, computed from the weights as updated so far, is chosen;
- **M/2:M** (``semi_structured_block_size=M``): at the first column of each aligned run of ``M`` inputs,
  the ``M // 2`` lowest-scoring weights of that run are chosen in every row.

A weight that is already zero (a previous pass pruned it) or masked stays pruned: it scores lowest, so it
is chosen first, and it is never revived by an update.

Lifecycle as ``WandaSparsifier``'s: ``prepare`` attaches the masks and a Hessian recorder per layer, the
user runs calibration forward passes, ``step`` prunes every layer from the dense model's inputs at once
(the paper's variant that does not re-run the model between layers) and writes the updated weights into
the parametrization's original tensor as well as the mask, and ``squash_mask`` bakes both in. Because
``step`` changes unmasked weights, the class declares ``updates_weights`` (``prunebench_tags``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from .base_sparsifier import _attached_mask
from .calibration import CalibratedSparsifier, InputHessian
from .oneshot_selection import check_pattern_group, drop_count, pattern_defaults
from .validation import CLAMP_WITH_WARNING, LevelPolicy, check_sparsity_level

DEFAULT_COLUMNS_PER_BLOCK = 128
"""The paper's block size ``B``."""
DEFAULT_DAMPENING = 0.01
"""The paper's ``lambda``: 1% of the mean diagonal of ``H``."""


def inverse_hessian_factor(hessian: torch.Tensor, dampening: float, where: str) -> torch.Tensor:
    """``U``, upper triangular with ``U^T U = (H + lambda I)^-1``: the inverse Hessians of every suffix at once.

    Calibration inputs that are not finite, all zero or (without dampening) too few to span every input
    direction give no such factor: each is an error naming the layer, never NaN weights.
    """
    if not bool(hessian.isfinite().all()):
        raise ValueError(f"the calibration inputs of {where} hold inf or NaN: SparseGPT cannot weigh its weights")
    mean_diagonal = hessian.diagonal().mean()
    if mean_diagonal <= 0:
        raise ValueError(f"every calibration input of {where} was zero: SparseGPT has no input to reconstruct")
    damped = hessian + dampening * mean_diagonal * torch.eye(len(hessian), dtype=hessian.dtype, device=hessian.device)
    lower, info = torch.linalg.cholesky_ex(damped)
    if not info:
        upper, info = torch.linalg.cholesky_ex(torch.cholesky_inverse(lower), upper=True)
    if info or not bool(upper.isfinite().all()):
        raise ValueError(
            f"the Hessian of {where}'s calibration inputs is not positive definite with dampening={dampening}: "
            "its inputs span too few directions; calibrate with more samples or raise dampening"
        )
    return upper


def lowest_scores(scores: torch.Tensor, count: int, pruned: torch.Tensor) -> torch.Tensor:
    """``pruned`` plus the ``count`` lowest ``scores`` along the last dim (``pruned`` ones count first)."""
    scores = scores.masked_fill(pruned, -math.inf)
    count = min(max(count, 0), scores.shape[-1])
    chosen = torch.zeros_like(pruned)
    if count:
        chosen.scatter_(-1, scores.topk(count, dim=-1, largest=False).indices, True)
    return chosen | pruned


def prune_block(block: torch.Tensor, factor: torch.Tensor, pruned: torch.Tensor, group: int | None) -> torch.Tensor:
    """Prune ``block`` (rows x the block's columns) column by column, in place; returns each column's error.

    ``factor`` is ``U`` restricted to the block. Unstructured, ``pruned`` already holds the block's mask;
    with M/2:M groups it is chosen here, at each group's first column, from the weights as updated so far.
    Each pruned weight's error ``w / U_jj`` is subtracted along ``U[j, j:]`` from its row's later columns.
    """
    errors = torch.zeros_like(block)
    diagonal = factor.diagonal()
    for column in range(block.shape[1]):
        if group is not None and column % group == 0:
            run = slice(column, column + group)
            scores = block[:, run].square() / diagonal[run].square()
            pruned[:, run] = lowest_scores(scores, group // 2, pruned[:, run])
        error = torch.where(pruned[:, column], block[:, column], 0) / factor[column, column]
        block[:, column:] -= error[:, None] * factor[column, column:][None, :]
        block[:, column].masked_fill_(pruned[:, column], 0)  # exactly zero, not w - w up to rounding
        errors[:, column] = error
    return errors


def sparsegpt(
    weight: torch.Tensor,
    factor: torch.Tensor,
    pruned: torch.Tensor,
    sparsity_level: float,
    group: int | None,
    columns_per_block: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pruned weight (in ``factor``'s dtype) and its keep-mask; ``pruned`` marks weights already gone.

    ``group`` is the ``M`` of an M/2:M pattern, or None for unstructured at ``sparsity_level``.
    """
    work = weight.to(factor.dtype).clone()
    pruned = pruned.clone()
    for start in range(0, work.shape[1], columns_per_block):
        block = slice(start, min(start + columns_per_block, work.shape[1]))
        block_factor = factor[block, block]
        if group is None:
            scores = work[:, block].square() / block_factor.diagonal().square()
            count = drop_count(sparsity_level, scores.numel())
            pruned[:, block] = lowest_scores(scores.flatten(), count, pruned[:, block].flatten()).view_as(scores)
        errors = prune_block(work[:, block], block_factor, pruned[:, block], group)
        work[:, block.stop :] -= errors @ factor[block, block.stop :]
    return work, ~pruned


def check_columns_per_block(columns_per_block: object, block_size: int | None) -> int:
    """A positive int, a multiple of ``semi_structured_block_size`` so that no M-run straddles two blocks."""
    if isinstance(columns_per_block, bool) or not isinstance(columns_per_block, numbers.Integral):
        raise TypeError(f"columns_per_block must be a positive int, got {columns_per_block!r}")
    if columns_per_block < 1 or (block_size is not None and columns_per_block % block_size):
        multiple = f" and a multiple of semi_structured_block_size={block_size}" if block_size else ""
        raise ValueError(f"columns_per_block must be a positive int{multiple}, got {columns_per_block}")
    return int(columns_per_block)


def check_dampening(dampening: object) -> float:
    """A finite real number >= 0: the fraction of the Hessian's mean diagonal added to its diagonal."""
    if isinstance(dampening, bool) or not isinstance(dampening, numbers.Real):
        raise TypeError(f"dampening must be a real number >= 0, got {dampening!r}")
    if not math.isfinite(dampening) or dampening < 0:
        raise ValueError(
            f"dampening must be finite and >= 0 (a fraction of the Hessian's mean diagonal), got {dampening}"
        )
    return float(dampening)


class SparseGPTSparsifier(CalibratedSparsifier):
    """SparseGPT on Linear weights; see the module docstring for the method and its lifecycle."""

    level_policy: ClassVar[LevelPolicy] = CLAMP_WITH_WARNING
    """As ``WandaSparsifier``: outside [0, 1] the nearest end, with a warning."""
    recorder_type = InputHessian
    prunebench_tags: ClassVar[dict[str, Any]] = {
        "updates_weights": True,
        "calibration": True,
        "layer_types": ["Linear"],
    }
    """``step`` changes unmasked weights (the one-shot contract applies, not the mask-only one) and needs
    calibration forward passes; Linear weights only."""

    def __init__(
        self,
        sparsity_level: float = 0.5,
        semi_structured_block_size: int | None = None,
        columns_per_block: int = DEFAULT_COLUMNS_PER_BLOCK,
        dampening: float = DEFAULT_DAMPENING,
    ) -> None:
        defaults = pattern_defaults(sparsity_level, semi_structured_block_size, self.level_policy)
        check_columns_per_block(columns_per_block, semi_structured_block_size)
        check_dampening(dampening)
        super().__init__(defaults={**defaults, "columns_per_block": columns_per_block, "dampening": dampening})

    def validate_group(self, group: Mapping[str, Any]) -> None:
        block_size = check_pattern_group(self, group)
        check_columns_per_block(group["columns_per_block"], block_size)
        check_dampening(group["dampening"])

    def update_mask(  # type: ignore[override]
        self,
        module: nn.Module,
        tensor_name: str,
        sparsity_level: float,
        semi_structured_block_size: int | None = None,
        columns_per_block: int = DEFAULT_COLUMNS_PER_BLOCK,
        dampening: float = DEFAULT_DAMPENING,
        tensor_fqn: str = "",
        **kwargs: Any,
    ) -> None:
        """Prune the layer and write both its new weights (the parametrization's original) and its mask."""
        factor = inverse_hessian_factor(self.recorder(tensor_fqn).hessian(), dampening, repr(tensor_fqn))
        original = module.parametrizations[tensor_name].original
        mask = _attached_mask(module, tensor_name)
        pruned_before = (mask == 0) | (original == 0)
        level = check_sparsity_level(sparsity_level, self.level_policy, warn=False)  # prepare already warned
        weight, keep = sparsegpt(
            original.detach(), factor, pruned_before, level, semi_structured_block_size, columns_per_block
        )
        original.copy_(weight)
        mask.copy_(keep)
