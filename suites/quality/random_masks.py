"""The floor: random masks and random rows, drawn from the seed, on the reference's machinery.

A rule that keeps no more quality than random choices at the same target has learnt nothing from
the weights; a rule below them chooses worse than chance (the broken backend that prunes the largest
weights is the example). The random scores replace the rule's scores only: the reference's
``WeightNormSparsifier`` (a callable ``norm``) and ``SaliencyPruner`` (its row scores) do the rest, so
the floor's masks have exactly the counts and N:M shape the reference's rules have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from prunebench.harness.backend import resolve_backend
from prunebench.reference_impl.structured.masks import row_mask_parametrization
from prunebench.reference_impl.structured.saliency_pruner import clear_lowest
from torch import nn

from prunebench import reference_impl

from .methods import (
    FLOOR_BACKEND,
    LAYERS,
    STRUCTURED,
    UNSTRUCTURED,
    PruningJob,
    PruningMethod,
    Rule,
    construct_pruner,
    prune_structured,
    weight_norm_method,
)

RANDOM_WEIGHTS = Rule(
    "random",
    UNSTRUCTURED,
    n_m=True,
    calibrated=False,
    layer_types=LAYERS,
    description="uniform random scores in place of |w| (the reference's WeightNormSparsifier with a random norm)",
)
RANDOM_ROWS = Rule(
    "random rows",
    STRUCTURED,
    n_m=False,
    calibrated=False,
    layer_types=LAYERS,
    description="uniform random row scores in place of L1 (the reference's SaliencyPruner and prune())",
)


def _random_norm(seed: int):
    """An element-wise "norm" that ignores the weight: uniform scores from a generator seeded once per pruning."""
    generator = torch.Generator().manual_seed(seed)

    def scores(weight: torch.Tensor) -> torch.Tensor:
        return torch.rand(weight.shape, generator=generator).to(weight.device)

    return scores


def random_weights_method() -> PruningMethod:
    reference = resolve_backend("reference")

    def prune(job: PruningJob) -> nn.Module:
        method = weight_norm_method(reference, RANDOM_WEIGHTS, norm=_random_norm(job.seed))
        return method.prune(job)

    return PruningMethod(FLOOR_BACKEND, RANDOM_WEIGHTS, prune, "reference WeightNormSparsifier(norm=random)")


class RandomRowPruner(reference_impl.SaliencyPruner):
    """The reference's ``SaliencyPruner`` with uniform random row scores from one seeded generator."""

    def __init__(self, defaults: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__(defaults)
        self.generator = torch.Generator().manual_seed(seed)

    def row_scores(self, module: nn.Module, tensor_name: str, settings: Mapping[str, Any]) -> torch.Tensor:
        return torch.rand(getattr(module, tensor_name).shape[0], generator=self.generator)

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        mask = row_mask_parametrization(module, tensor_name).mask
        scores = self.row_scores(module, tensor_name, kwargs).to(mask.device)
        clear_lowest(mask, scores, int(mask.numel() * sparsity_level))


def random_rows_method() -> PruningMethod:
    def prune(job: PruningJob) -> nn.Module:
        return prune_structured(construct_pruner(RandomRowPruner, job.target.level, seed=job.seed), job)

    return PruningMethod(FLOOR_BACKEND, RANDOM_ROWS, prune, "reference SaliencyPruner with random row scores")
