"""What the one-shot rules (Wanda, SparseGPT, one-shot magnitude) share: their patterns and their cut.

Each prunes a Linear weight either unstructured at ``sparsity_level`` or semi-structured, ``M/2:M``:
``semi_structured_block_size=M`` zeroes the ``M // 2`` lowest scores of every aligned run of ``M``
weights along a row (the input dimension; 2:4 for ``M = 4``), whatever ``sparsity_level`` says.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from .validation import CLAMP_WITH_WARNING, LevelPolicy, check_sparsity_level

COUNT_SLACK = 1e-9
"""Added before flooring ``sparsity_level * count`` so that e.g. 0.29 * 100 = 28.999... counts 29."""


def check_block_size(block_size: object) -> int | None:
    """``None`` (unstructured) or an even int >= 2: the ``M`` of an ``M/2 : M`` pattern."""
    if block_size is None:
        return None
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral):
        raise TypeError(f"semi_structured_block_size must be None or an even int >= 2, got {block_size!r}")
    if block_size < 2 or block_size % 2:
        raise ValueError(f"semi_structured_block_size must be None or an even int >= 2, got {block_size}")
    return int(block_size)


def pattern_defaults(
    sparsity_level: float, semi_structured_block_size: int | None, policy: LevelPolicy
) -> dict[str, Any]:
    """The constructor arguments every one-shot rule takes, checked: the start of its ``defaults``."""
    check_sparsity_level(sparsity_level, policy)
    check_block_size(semi_structured_block_size)
    return {"sparsity_level": sparsity_level, "semi_structured_block_size": semi_structured_block_size}


def check_pattern_group(sparsifier: Any, group: Mapping[str, Any]) -> int | None:
    """A group a one-shot rule can prune (``check_linear_weight``) at a legal level; returns its block size."""
    block_size = check_linear_weight(type(sparsifier).__name__, group)
    check_sparsity_level(group["sparsity_level"], sparsifier.level_policy, f" for {group['tensor_fqn']!r}")
    return block_size


class OneShotRule:
    """The arguments of a one-shot rule (``sparsity_level``, ``semi_structured_block_size``) and their checks;
    mixed in before a sparsifier base class."""

    level_policy: ClassVar[LevelPolicy] = CLAMP_WITH_WARNING
    """As ``WeightNormSparsifier``: outside [0, 1] the nearest end, with a warning (torch has no such rule)."""

    def __init__(self, sparsity_level: float = 0.5, semi_structured_block_size: int | None = None) -> None:
        super().__init__(defaults=pattern_defaults(sparsity_level, semi_structured_block_size, self.level_policy))

    def validate_group(self, group: Mapping[str, Any]) -> None:
        check_pattern_group(self, group)


def check_linear_weight(sparsifier: str, group: Mapping[str, Any]) -> int | None:
    """A one-shot rule prunes Linear weights along their inputs: the group must be one, with whole blocks.

    Returns the group's ``semi_structured_block_size`` (checked), for further checks of the caller.
    """
    module, fqn = group["module"], group["tensor_fqn"]
    if not isinstance(module, nn.Linear) or group["tensor_name"] != "weight":
        raise ValueError(
            f"{sparsifier} prunes a Linear weight along the layer's inputs; {fqn!r} is "
            f"{group['tensor_name']!r} of a {type(module).__name__}"
        )
    block_size = check_block_size(group["semi_structured_block_size"])
    if block_size is not None and module.in_features % block_size:
        raise ValueError(
            f"{fqn!r} has {module.in_features} columns, not a multiple of semi_structured_block_size={block_size}"
        )
    return block_size


def drop_count(level: float, count: int) -> int:
    """How many of ``count`` weights a ``level`` zeroes: the floor, so a level never overshoots."""
    return math.floor(level * count + COUNT_SLACK)


def keep_highest(scores: torch.Tensor, drop: int) -> torch.Tensor:
    """Bool mask over ``scores``: false for the ``drop`` lowest entries along the last dim."""
    keep = torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    drop = min(max(drop, 0), scores.shape[-1])
    if drop:
        lowest = scores.topk(drop, dim=-1, largest=False).indices
        keep.scatter_(-1, lowest, False)
    return keep


def keep_highest_in_runs(scores: torch.Tensor, block_size: int) -> torch.Tensor:
    """Bool mask over 2-D ``scores``: false for the ``block_size // 2`` lowest of every aligned run of
    ``block_size`` entries along a row (M/2:M)."""
    runs = scores.reshape(scores.shape[0], -1, block_size)
    return keep_highest(runs, block_size // 2).reshape(scores.shape)
