"""``WeightNormSparsifier``: zero the blocks (or elements within blocks) with the smallest norm."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from .base_sparsifier import BaseSparsifier, _attached_mask
from .block_masks import weight_norm_mask

NormFn = Callable[[torch.Tensor], torch.Tensor]
_BUILTIN_NORMS: dict[int, NormFn] = {1: torch.abs, 2: torch.square}


def check_block_shape(block_shape: object) -> tuple[int, int]:
    """A block shape is a pair of positive ints; return it as a tuple or raise naming the value."""
    if (
        not isinstance(block_shape, (tuple, list))
        or len(block_shape) != 2
        or not all(isinstance(side, numbers.Integral) and side > 0 for side in block_shape)
    ):
        raise ValueError(f"sparse_block_shape must be a pair of positive ints (rows, cols), got {block_shape!r}")
    return int(block_shape[0]), int(block_shape[1])


def check_sparsity_level(level: object, warn: bool = True) -> float:
    """A real number; values outside [0, 1] are clamped (with a warning if ``warn``), NaN is rejected."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise TypeError(f"sparsity_level must be a real number in [0, 1], got {level!r}")
    if math.isnan(level):
        raise ValueError("sparsity_level must be a real number in [0, 1], got nan")
    if warn and not 0.0 <= level <= 1.0:
        warnings.warn(f"sparsity_level={level!r} is outside [0, 1]; clamped", stacklevel=3)
    return min(1.0, max(0.0, float(level)))


def check_zeros_per_block(zeros_per_block: object, block_shape: tuple[int, int]) -> int:
    """An int in [0, block rows * block cols]."""
    block_size = block_shape[0] * block_shape[1]
    if isinstance(zeros_per_block, bool) or not isinstance(zeros_per_block, numbers.Integral):
        raise TypeError(f"zeros_per_block must be an int in [0, {block_size}], got {zeros_per_block!r}")
    if not 0 <= zeros_per_block <= block_size:
        raise ValueError(
            f"zeros_per_block={zeros_per_block} is outside [0, {block_size}] for a "
            f"{block_shape[0]}x{block_shape[1]} block"
        )
    return int(zeros_per_block)


def resolve_norm(norm: int | NormFn | None) -> NormFn:
    """Map ``norm`` (1, 2, None meaning 2, or a callable) to an element-wise score function."""
    if norm is None:
        return _BUILTIN_NORMS[2]
    if callable(norm):
        return norm
    if norm in _BUILTIN_NORMS:
        return _BUILTIN_NORMS[norm]
    raise NotImplementedError(f"norm={norm!r} is not supported; use 1, 2 or a callable")


class WeightNormSparsifier(BaseSparsifier):
    """Zeroes ``sparsity_level`` of the ``sparse_block_shape`` blocks with the lowest mean norm.

    Within each chosen block the ``zeros_per_block`` lowest-norm elements are zeroed (default: the
    whole block), so ``sparse_block_shape=(1, 4), zeros_per_block=2, sparsity_level=1`` is 2:4
    sparsity. Any weight shape works, including dimensions that are not multiples of the block.
    """

    def __init__(
        self,
        sparsity_level: float = 0.5,
        sparse_block_shape: tuple[int, int] = (1, 4),
        zeros_per_block: int | None = None,
        norm: int | NormFn | None = None,
    ) -> None:
        block_shape = check_block_shape(sparse_block_shape)
        if zeros_per_block is None:
            zeros_per_block = block_shape[0] * block_shape[1]
        check_zeros_per_block(zeros_per_block, block_shape)
        check_sparsity_level(sparsity_level)
        self.norm_fn = resolve_norm(norm)
        super().__init__(
            defaults={
                "sparsity_level": sparsity_level,
                "sparse_block_shape": sparse_block_shape,
                "zeros_per_block": zeros_per_block,
            }
        )

    def validate_group(self, group: Mapping[str, Any]) -> None:
        block_shape = check_block_shape(group["sparse_block_shape"])
        check_zeros_per_block(group["zeros_per_block"], block_shape)
        check_sparsity_level(group["sparsity_level"])
        _check_weight(group["module"], group["tensor_name"], group["tensor_fqn"])

    def update_mask(  # type: ignore[override]
        self,
        module: nn.Module,
        tensor_name: str,
        sparsity_level: float,
        sparse_block_shape: tuple[int, int],
        zeros_per_block: int,
        **kwargs: Any,
    ) -> None:
        block_shape = check_block_shape(sparse_block_shape)
        zeros_per_block = check_zeros_per_block(zeros_per_block, block_shape)
        level = check_sparsity_level(sparsity_level, warn=False)  # prepare already warned
        weight = getattr(module, tensor_name)
        scores = self.norm_fn(_scoring_view(weight))
        keep = weight_norm_mask(scores, level, block_shape, zeros_per_block)
        mask = _attached_mask(module, tensor_name)
        mask.copy_(keep.reshape(mask.shape))


def _scoring_view(weight: torch.Tensor) -> torch.Tensor:
    """The weight as 2-D (rows, everything else), in at least float32 so half types rank exactly."""
    flat = weight.detach().reshape(weight.shape[0], -1)
    return flat.float() if flat.dtype in (torch.float16, torch.bfloat16) else flat


def _check_weight(module: nn.Module, tensor_name: str, tensor_fqn: str) -> None:
    weight = getattr(module, tensor_name)
    if weight.dim() < 2:
        raise ValueError(
            f"WeightNormSparsifier needs a tensor of at least 2 dims; {tensor_fqn!r} has shape {tuple(weight.shape)}"
        )
    if not weight.dtype.is_floating_point:
        raise TypeError(f"{tensor_fqn!r} has dtype {weight.dtype}; only floating-point weights have norms")
