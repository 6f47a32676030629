"""``WandaSparsifier``: prune by weight magnitude times input-activation norm, row by row (Sun et al., 2023).

Wanda ("pruning by weights and activations", arXiv:2306.11695) scores weight ``W[i, j]`` of a
Linear layer as ``|W[i, j]| * ||X[:, j]||_2``, where ``X`` stacks every input row the layer saw
during calibration, and zeroes the lowest-scoring weights *of each output row* (the paper's
comparison group). With ``semi_structured_block_size=M`` it zeroes the ``M // 2`` lowest scores of
every aligned ``1 x M`` block of a row instead (2:4 for ``M = 4``) and ignores ``sparsity_level``.

Lifecycle: ``prepare`` attaches the masks and a forward pre-hook that accumulates, per input
feature, the sum of squared activations; the user runs calibration forward passes; ``step`` turns
the statistics into masks (and raises if no activation was seen); ``squash_mask`` removes the hooks
and the statistics along with the parametrizations.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .base_sparsifier import BaseSparsifier, _attached_mask
from .validation import CLAMP_WITH_WARNING, LevelPolicy, check_sparsity_level

_COUNT_SLACK = 1e-9
"""Added before flooring ``sparsity_level * columns`` so that e.g. 0.29 * 100 = 28.999... counts 29."""


def check_block_size(block_size: object) -> int | None:
    """``None`` (unstructured) or an even int >= 2: the ``M`` of an ``M/2 : M`` pattern."""
    if block_size is None:
        return None
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral):
        raise TypeError(f"semi_structured_block_size must be None or an even int >= 2, got {block_size!r}")
    if block_size < 2 or block_size % 2:
        raise ValueError(f"semi_structured_block_size must be None or an even int >= 2, got {block_size}")
    return int(block_size)


@dataclass
class _InputNorms:
    """Running per-feature sum of squared inputs of one Linear layer, and the hook that feeds it."""

    handle: RemovableHandle | None = None
    squares: torch.Tensor | None = None

    def record(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        inputs = args[0].detach()
        flat = inputs.reshape(-1, inputs.shape[-1])
        dtype = torch.float64 if flat.dtype == torch.float64 else torch.float32
        batch = flat.to(dtype).square().sum(dim=0)
        self.squares = batch if self.squares is None else self.squares + batch

    def column_norms(self, tensor_fqn: str) -> torch.Tensor:
        if self.squares is None:
            raise RuntimeError(
                f"WandaSparsifier has no activations for {tensor_fqn!r}: run calibration forward passes "
                "through the prepared model before step()"
            )
        return self.squares.sqrt()


class WandaSparsifier(BaseSparsifier):
    """Activation-aware magnitude pruning of Linear weights; see the module docstring for the method."""

    level_policy: ClassVar[LevelPolicy] = CLAMP_WITH_WARNING
    """As ``WeightNormSparsifier``: outside [0, 1] the nearest end, with a warning (torch has no Wanda)."""

    def __init__(self, sparsity_level: float = 0.5, semi_structured_block_size: int | None = None) -> None:
        check_sparsity_level(sparsity_level, self.level_policy)
        check_block_size(semi_structured_block_size)
        super().__init__(
            defaults={"sparsity_level": sparsity_level, "semi_structured_block_size": semi_structured_block_size}
        )
        self._norms: dict[str, _InputNorms] = {}

    def validate_group(self, group: Mapping[str, Any]) -> None:
        module, fqn = group["module"], group["tensor_fqn"]
        if not isinstance(module, nn.Linear) or group["tensor_name"] != "weight":
            raise ValueError(
                f"WandaSparsifier scores a Linear weight's columns by the layer's input norms; {fqn!r} is "
                f"{group['tensor_name']!r} of a {type(module).__name__}"
            )
        check_sparsity_level(group["sparsity_level"], self.level_policy, f" for {fqn!r}")
        block_size = check_block_size(group["semi_structured_block_size"])
        if block_size is not None and module.in_features % block_size:
            raise ValueError(
                f"{fqn!r} has {module.in_features} columns, not a multiple of semi_structured_block_size={block_size}"
            )

    def prepare(self, model: nn.Module, config: Sequence[Mapping[str, Any]] | None) -> None:
        """Attach masks (all kept) and the activation recorders; calibrate by running the model next."""
        self._remove_recorders()
        super().prepare(model, config)
        for group in self.groups:
            norms = _InputNorms()
            norms.handle = group["module"].register_forward_pre_hook(norms.record)
            self._norms[group["tensor_fqn"]] = norms

    def update_mask(  # type: ignore[override]
        self,
        module: nn.Module,
        tensor_name: str,
        sparsity_level: float,
        semi_structured_block_size: int | None = None,
        tensor_fqn: str = "",
        **kwargs: Any,
    ) -> None:
        norms = getattr(self, "_norms", {}).get(tensor_fqn, _InputNorms()).column_norms(tensor_fqn)
        weight = module.parametrizations[tensor_name].original.detach()  # unmasked: a later step may revive
        scores = weight.abs().to(norms.dtype) * norms
        block_size = check_block_size(semi_structured_block_size)
        if block_size is None:
            level = check_sparsity_level(sparsity_level, self.level_policy, warn=False)  # prepare already warned
            keep = _keep_highest(scores, math.floor(level * scores.shape[1] + _COUNT_SLACK))
        else:
            blocks = scores.reshape(scores.shape[0], -1, block_size)
            keep = _keep_highest(blocks, block_size // 2).reshape(scores.shape)
        _attached_mask(module, tensor_name).copy_(keep)

    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        """Remove the activation recorders and their statistics, then bake the masks in."""
        self._remove_recorders()
        super().squash_mask(*args, **kwargs)

    def _remove_recorders(self) -> None:
        for norms in getattr(self, "_norms", {}).values():
            if norms.handle is not None:
                norms.handle.remove()
        self._norms = {}


def _keep_highest(scores: torch.Tensor, drop: int) -> torch.Tensor:
    """Bool mask over ``scores``: false for the ``drop`` lowest entries along the last dim."""
    keep = torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    drop = min(max(drop, 0), scores.shape[-1])
    if drop:
        lowest = scores.topk(drop, dim=-1, largest=False).indices
        keep.scatter_(-1, lowest, False)
    return keep
