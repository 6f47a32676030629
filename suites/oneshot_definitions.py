"""SparseGPT's and Wanda's results computed from their definitions, for layers small enough to do it exactly.

Nothing here shares code with ``reference_impl``: SparseGPT is written as the papers define it (Frantar &
Alistarh 2023, after the Optimal Brain Surgeon), column by column with explicit linear solves, where the
implementations read everything off one Cholesky factor; N:M masks are found by brute force over every
mask. All arithmetic is float64, so a wrong formula cannot hide behind rounding.
"""

from __future__ import annotations

import itertools
import math

import torch

LEVEL_SLACK = 1e-9
"""As the implementations count: ``floor(level * n + slack)`` weights go, so 0.29 * 100 counts 29."""


def damped_hessian(inputs: torch.Tensor, dampening: float) -> torch.Tensor:
    """``H = 2 X^T X / n`` of the input rows ``X``, plus ``dampening`` times its mean diagonal on the diagonal."""
    inputs = inputs.double()
    hessian = 2 * inputs.T @ inputs / inputs.shape[0]
    return hessian + dampening * hessian.diagonal().mean() * torch.eye(len(hessian), dtype=torch.float64)


def obs_scores(weight: torch.Tensor, hessian: torch.Tensor, columns: range) -> torch.Tensor:
    """Each weight's error when pruned with the columns before it fixed: ``w_j^2 / [(H[j:, j:])^-1]_00``."""
    inverse_first = [torch.linalg.inv(hessian[j:, j:])[0, 0] for j in columns]
    return weight[:, columns.start : columns.stop].square() / torch.stack(inverse_first)


def prune_column(weight: torch.Tensor, hessian: torch.Tensor, row: int, column: int) -> None:
    """The Optimal Brain Surgeon step for ``weight[row, column]``, the columns before it fixed: zero it and
    change the later columns by ``w * H[later, later]^-1 H[later, column]`` (least squares on ``H``)."""
    later = slice(column + 1, weight.shape[1])
    if later.start < later.stop:
        weight[row, later] += weight[row, column] * torch.linalg.solve(hessian[later, later], hessian[later, column])
    weight[row, column] = 0


def sparsegpt_by_definition(
    weight: torch.Tensor, hessian: torch.Tensor, level: float, m: int | None, columns_per_block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """SparseGPT's weights and keep-mask: left to right; unstructured, at each block's start the ``level``
    share of the block's lowest ``obs_scores`` (of the weights as updated so far) is chosen; M/2:M, at each
    run's start the ``m // 2`` lowest of the run in every row; every chosen weight then pruned by the OBS step.
    """
    weight = weight.double().clone()
    pruned = torch.zeros(weight.shape, dtype=torch.bool)
    rows, columns = weight.shape
    for start in range(0, columns, columns_per_block):
        block = range(start, min(start + columns_per_block, columns))
        if m is None:
            scores = obs_scores(weight, hessian, block)
            lowest = scores.flatten().argsort()[: math.floor(level * scores.numel() + LEVEL_SLACK)]
            chosen = torch.zeros(scores.numel(), dtype=torch.bool)
            chosen[lowest] = True
            pruned[:, start : block.stop] = chosen.view_as(scores)
        for column in block:
            if m is not None and column % m == 0:
                run = range(column, column + m)
                lowest = obs_scores(weight, hessian, run).argsort(dim=1)[:, : m // 2]
                pruned[:, column : column + m].scatter_(1, lowest, True)
            for row in range(rows):
                if pruned[row, column]:
                    prune_column(weight, hessian, row, column)
    return weight, ~pruned


def n_of_m_masks(columns: int, n: int, m: int) -> list[torch.Tensor]:
    """Every keep-mask of one row with exactly ``n`` kept in each run of ``m`` columns."""
    runs = [list(itertools.combinations(range(m), n)) for _ in range(columns // m)]
    masks = []
    for choice in itertools.product(*runs):
        mask = torch.zeros(columns, dtype=torch.bool)
        for index, kept in enumerate(choice):
            mask[[index * m + k for k in kept]] = True
        masks.append(mask)
    return masks


def best_n_of_m_mask(row_scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """By brute force, for each row: the N:M keep-mask whose kept ``row_scores`` sum highest."""
    masks = torch.stack(n_of_m_masks(row_scores.shape[1], n, m))
    best = (row_scores.double() @ masks.double().T).argmax(dim=1)
    return masks[best]
