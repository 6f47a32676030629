"""``OneShotMagnitudeSparsifier``: the baseline of one-shot pruning, by weight magnitude alone.

The magnitude rule of the SparseGPT and Wanda papers' tables: unstructured, the ``sparsity_level`` share
of a Linear weight's entries with the lowest ``|W|`` across the whole layer goes; with
``semi_structured_block_size=M``, the ``M // 2`` lowest of every aligned run of ``M`` inputs of a row
(2:4 for ``M = 4``). It takes the same arguments as ``WandaSparsifier`` and ``SparseGPTSparsifier`` so
that the three compare at one pattern, but needs no calibration and changes masks only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from .base_sparsifier import BaseSparsifier, _attached_mask
from .oneshot_selection import OneShotRule, check_block_size, drop_count, keep_highest, keep_highest_in_runs
from .validation import check_sparsity_level


class OneShotMagnitudeSparsifier(OneShotRule, BaseSparsifier):
    """Layer-wide (or per M-run) lowest-magnitude pruning of Linear weights; see the module docstring."""

    prunebench_tags: ClassVar[dict[str, Any]] = {"layer_types": ["Linear"]}
    """Declared capabilities (prunebench's suites read them): Linear weights only (M-runs go along a row's
    inputs)."""

    def update_mask(  # type: ignore[override]
        self,
        module: nn.Module,
        tensor_name: str,
        sparsity_level: float,
        semi_structured_block_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        scores = module.parametrizations[tensor_name].original.detach().abs()
        block_size = check_block_size(semi_structured_block_size)
        if block_size is None:
            level = check_sparsity_level(sparsity_level, self.level_policy, warn=False)  # prepare already warned
            keep = keep_highest(scores.reshape(1, -1), drop_count(level, scores.numel())).reshape(scores.shape)
        else:
            keep = keep_highest_in_runs(scores, block_size)
        _attached_mask(module, tensor_name).copy_(keep)
