"""``WeightNormSparsifier``: zero the blocks (or elements within blocks) with the smallest norm."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from .base_sparsifier import BaseSparsifier, _attached_mask
from .block_masks import ScoreRows, copy_verdict, weight_norm_mask
from .fake_sparsity import FakeSparsity
from .native.weight_norm import native_weight_norm_mask
from .validation import CLAMP_WITH_WARNING, LevelPolicy, check_sparsity_level, resolve_function

NormFn = Callable[[torch.Tensor], torch.Tensor]
_BUILTIN_NORMS: dict[int, NormFn] = {1: torch.abs, 2: torch.square}


def check_block_shape(block_shape: object) -> tuple[int, int]:
    """A block shape is a pair of positive ints; return it as a tuple or raise naming the value.

    Not a tuple/list, or a side that is not an int (bools included): ``TypeError``; another length
    than 2 or a side below 1: ``ValueError``.
    """
    expected = "sparse_block_shape must be a pair of positive ints (rows, cols)"
    if not isinstance(block_shape, (tuple, list)):
        raise TypeError(f"{expected}, got {type(block_shape).__name__} {block_shape!r}")
    if len(block_shape) != 2:
        raise ValueError(f"{expected}, got {len(block_shape)} values: {block_shape!r}")
    if not all(isinstance(side, numbers.Integral) and not isinstance(side, bool) for side in block_shape):
        raise TypeError(f"{expected}, got {block_shape!r}")
    if not all(side > 0 for side in block_shape):
        raise ValueError(f"{expected}, got {block_shape!r}: every side must be at least 1")
    return int(block_shape[0]), int(block_shape[1])


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
    return resolve_function("norm", norm, _BUILTIN_NORMS, default=2)


class WeightNormSparsifier(BaseSparsifier):
    """Zeroes ``sparsity_level`` of the ``sparse_block_shape`` blocks with the lowest mean norm.

    Within each chosen block the ``zeros_per_block`` lowest-norm elements are zeroed (default: the
    whole block), so ``sparse_block_shape=(1, 4), zeros_per_block=2, sparsity_level=1`` is 2:4
    sparsity. Any weight shape works, including dimensions that are not multiples of the block.

    Arguments are checked here and per tensor at ``prepare``: ``sparsity_level`` is a real number
    (NaN, bools and non-numbers are errors; values outside [0, 1] are clamped with a warning),
    ``sparse_block_shape`` a pair of positive ints, ``zeros_per_block`` an int in [0, block size],
    ``norm`` 1, 2, None or a callable. Weights must be floating point (float16 and bfloat16 are
    ranked in float32 and keep their dtype).

    NaN and inf weights: a block's score is the mean of its elements' norms, so a block holding a
    NaN scores NaN and one holding an inf scores +inf. Blocks are ranked as ``torch.topk`` ranks
    (finite scores, then +inf, then NaN last), so NaN and inf blocks are zeroed only once every
    finite block is; elements inside a block follow the same order. A zeroed NaN or inf weight
    becomes an exact 0. Of blocks (or elements) whose scores tie exactly at the cut, the first in
    row-major order go (torch's choice among them is ``torch.topk``'s, which the contract leaves
    open), so the same weights always give the same mask, on every device.
    """

    level_policy: ClassVar[LevelPolicy] = CLAMP_WITH_WARNING
    """torch keeps all at <= 0 and masks all at >= 1, silently; the same here, with a warning."""

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
        check_sparsity_level(sparsity_level, self.level_policy)
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
        check_sparsity_level(group["sparsity_level"], self.level_policy, f" for {group['tensor_fqn']!r}")
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
        level = check_sparsity_level(sparsity_level, self.level_policy, warn=False)  # prepare already warned
        mask = _attached_mask(module, tensor_name)
        # Written in place, chunk by chunk, in the mask's own dtype; only a non-contiguous mask (one a
        # config supplied) goes through a contiguous copy.
        target = mask if mask.is_contiguous() else torch.empty(mask.shape, dtype=mask.dtype, device=mask.device)
        if not _native_mask(module, tensor_name, self.norm_fn, _as_2d(target), level, block_shape, zeros_per_block):
            scores = _score_rows(module, tensor_name, self.norm_fn)
            weight_norm_mask(_as_2d(target), scores, level, block_shape, zeros_per_block)
        if target is not mask:
            mask.copy_(target)


def _native_mask(
    module: nn.Module,
    tensor_name: str,
    norm_fn: NormFn,
    target: torch.Tensor,
    level: float,
    block_shape: tuple[int, int],
    zeros_per_block: int,
) -> bool:
    """The step by the compiled kernel (``native.weight_norm``), when it applies: our ``FakeSparsity`` alone on the
    tensor (scores from the original weight and the mask) and a built-in norm; False if the readable path must run."""
    parametrizations = module.parametrizations[tensor_name]
    norm = next((order for order, builtin in _BUILTIN_NORMS.items() if builtin is norm_fn), None)
    if norm is None or len(parametrizations) != 1 or type(parametrizations[0]) is not FakeSparsity:
        return False
    weight = _as_2d(parametrizations.original.detach())
    mask = _as_2d(parametrizations[0].mask)
    if target.data_ptr() != mask.data_ptr():  # a non-contiguous mask's copy: score by the mask it replaces
        target.copy_(mask)
    return native_weight_norm_mask(target, weight, norm, level, block_shape, zeros_per_block)


def _score_rows(module: nn.Module, tensor_name: str, norm_fn: NormFn) -> ScoreRows:
    """Element scores of rows of the masked weight (``getattr(module, tensor_name)``), in float32 or wider.

    With our ``FakeSparsity`` alone on the tensor and a built-in norm (element-wise, and 0 at 0), a
    chunk's scores are the norm of the unmasked rows, zeroed where the mask is: no weight-sized
    temporary. Otherwise (another parametrization in the chain, or a callable norm that may look at
    the whole tensor) the whole masked weight is scored once.
    """
    parametrizations = module.parametrizations[tensor_name]
    fused = len(parametrizations) == 1 and type(parametrizations[0]) is FakeSparsity
    if not (fused and norm_fn in _BUILTIN_NORMS.values()):
        scores = norm_fn(_scoring_view(getattr(module, tensor_name)))
        return lambda rows: scores[rows]
    original = _as_2d(parametrizations.original.detach())
    mask = _as_2d(parametrizations[0].mask)
    if _masks_nothing(mask):  # a fresh mask: the scores are the plain norms, the mask need not be read again
        return lambda rows: norm_fn(_scoring_view(original[rows]))

    def masked_scores(rows: slice | torch.Tensor) -> torch.Tensor:
        keep = mask[rows].bool()  # non-zero keeps; ~4x faster than `!= 0` for a float mask on CPU
        return _zero_masked(norm_fn(_scoring_view(original[rows])), keep)

    return masked_scores


def _masks_nothing(mask: torch.Tensor) -> bool:
    """Whether ``mask`` keeps every entry, by one read and no temporary: its minimum is positive.

    That is sufficient, not necessary (a negative or NaN entry also keeps its weight); a mask of 0s
    and 1s keeps everything exactly when it holds no 0.
    """
    if mask.numel() == 0:
        return True
    return bool((mask.view(torch.uint8) if mask.dtype == torch.bool else mask).min() > 0)


def _zero_masked(scores: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``torch.where(keep, scores, 0)`` for fresh non-negative ``scores``, overwriting them when it can.

    ``where`` branches per element (several times slower than a multiply on a random mask), so: no
    work when everything is kept (a fresh mask), a multiply by ``keep`` as 0 / 1 in the scores' dtype
    when the scores are finite (``0 * inf`` would be NaN), ``where`` otherwise. (A multiply by the
    bool tensor itself is ~4x slower on CPU than converting it first.)
    """
    if keep.numel() == 0 or bool(keep.view(torch.uint8).min()):
        return scores
    if torch.isfinite(scores.sum()):
        factors = torch.empty(scores.shape, dtype=scores.dtype, device=scores.device)
        copy_verdict(factors, keep)
        return scores.mul_(factors)
    return torch.where(keep, scores, torch.zeros((), dtype=scores.dtype, device=scores.device))


def _as_2d(tensor: torch.Tensor) -> torch.Tensor:
    """(rows, everything else); a view when ``tensor`` is contiguous."""
    return tensor.reshape(tensor.shape[0], math.prod(tensor.shape[1:]))


def _scoring_view(weight: torch.Tensor) -> torch.Tensor:
    """The weight as 2-D (rows, everything else), in at least float32 so half types rank exactly."""
    flat = _as_2d(weight.detach())
    return flat.float() if flat.dtype in (torch.float16, torch.bfloat16) else flat


def _check_weight(module: nn.Module, tensor_name: str, tensor_fqn: str) -> None:
    weight = getattr(module, tensor_name)
    if weight.dim() < 2:
        raise ValueError(
            f"WeightNormSparsifier needs a tensor of at least 2 dims; {tensor_fqn!r} has shape {tuple(weight.shape)}"
        )
    if not weight.dtype.is_floating_point:
        raise TypeError(f"{tensor_fqn!r} has dtype {weight.dtype}; only floating-point weights have norms")
