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

from typing import Any

from torch import nn

from .base_sparsifier import _attached_mask
from .calibration import CalibratedSparsifier, InputNorms
from .oneshot_selection import OneShotRule, check_block_size, drop_count, keep_highest_in_runs
from .oneshot_selection import keep_highest as _keep_highest
from .validation import check_sparsity_level


class WandaSparsifier(OneShotRule, CalibratedSparsifier):
    """Activation-aware magnitude pruning of Linear weights; see the module docstring for the method."""

    recorder_type = InputNorms

    def update_mask(  # type: ignore[override]
        self,
        module: nn.Module,
        tensor_name: str,
        sparsity_level: float,
        semi_structured_block_size: int | None = None,
        tensor_fqn: str = "",
        **kwargs: Any,
    ) -> None:
        norms = self.recorder(tensor_fqn).column_norms()
        weight = module.parametrizations[tensor_name].original.detach()  # unmasked: a later step may revive
        scores = weight.abs().to(norms.dtype) * norms
        block_size = check_block_size(semi_structured_block_size)
        if block_size is None:
            level = check_sparsity_level(sparsity_level, self.level_policy, warn=False)  # prepare already warned
            keep = _keep_highest(scores, drop_count(level, scores.shape[1]))
        else:
            keep = keep_highest_in_runs(scores, block_size)
        _attached_mask(module, tensor_name).copy_(keep)
