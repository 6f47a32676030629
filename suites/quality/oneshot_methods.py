"""One-shot pruners (``harness.oneshot`` records: SparseGPT, Wanda, magnitude, a library's modifiers) as methods.

A backend's one-shot records join the grid where they add a rule the backend's contract classes do not already
give it: the reference's ``SparseGPTSparsifier`` (its Wanda and magnitude rows come from ``WandaSparsifier`` and
``WeightNormSparsifier``), llm-compressor's ``SparseGPTModifier`` and ``WandaPruningModifier``. A record names the
rule it claims (``OneShotPruner.method``), so llm-compressor's Wanda is compared with the reference's Wanda, and
SparseGPT with SparseGPT. Records prune ``nn.Linear`` layers only, from the grid point's calibration batches, every
Linear outside the configuration left out (``ignore``); a record that leaves out less than it was told (prunes the
head) fails its cell with the names, since its numbers would not compare with the other methods'.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from prunebench.harness.backend import Backend
from prunebench.harness.errors import UnsupportedError
from prunebench.harness.oneshot import Batch, OneShotPruner, SparsityPattern, oneshot_pruners
from torch import nn

from .methods import MAGNITUDE, UNSTRUCTURED, WANDA, PruningJob, PruningMethod, Rule, Target
from .tasks import ExampleInputs

SPARSEGPT = Rule(
    "SparseGPT",
    UNSTRUCTURED,
    n_m=True,
    calibrated=True,
    layer_types=(nn.Linear,),
    description="SparseGPT (one-shot): each layer's weights chosen and the kept ones updated from the inverse "
    "Hessian of its calibration inputs (Frantar & Alistarh, 2023); 2:4 as its N:M pattern",
)
CLAIMED_RULES = {rule.name: rule for rule in (SPARSEGPT, WANDA, MAGNITUDE)}
"""The rule a record's ``method`` claims; a record claiming another gets a rule of its own name."""


def _rule_of(record: OneShotPruner) -> Rule:
    """The record's rule, restricted to the Linear layers a one-shot record prunes."""
    rule = CLAIMED_RULES.get(record.method)
    if rule is None:
        rule = Rule(
            record.method,
            UNSTRUCTURED,
            n_m=True,
            calibrated=record.tags.calibration,
            layer_types=(nn.Linear,),
            description=f"{record.name} (one-shot, its own rule)",
        )
    return dataclasses.replace(rule, layer_types=(nn.Linear,))


def pattern_of(target: Target) -> SparsityPattern:
    """The grid's target as a one-shot pattern: a level, or N zeros of every M as ``n_of_m(M - N, M)``."""
    if target.n_m:
        zeros, block = target.n_m
        return SparsityPattern.n_of_m(block - zeros, block)
    return SparsityPattern.unstructured(target.level)


def batches_of(calibration: Sequence[ExampleInputs]) -> list[Batch]:
    """The grid's calibration inputs (tuples of positional inputs) as one-shot batches (one input each)."""
    if any(len(inputs) != 1 for inputs in calibration):
        raise UnsupportedError("one-shot pruners take calibration batches of one input; this model takes several")
    return [inputs[0] for inputs in calibration]


def _left_whole(model: nn.Module, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Every Linear outside ``layers``, by name, with a copy of its weight: what the prune must not change."""
    return {
        name: module.weight.detach().clone()
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name not in layers
    }


def oneshot_method(backend: Backend, record: OneShotPruner) -> PruningMethod:
    def prune(job: PruningJob) -> nn.Module:
        before = _left_whole(job.model, job.layers)
        record.prune(job.model, batches_of(job.calibration), pattern_of(job.target), list(before))
        changed = [
            name for name, weight in before.items() if not torch.equal(job.model.get_submodule(name).weight, weight)
        ]
        if changed:
            raise RuntimeError(
                f"{record.name} pruned {', '.join(changed)}, which it was told to leave whole (ignore={list(before)})"
            )
        return job.model

    return PruningMethod(backend.name, _rule_of(record), prune, f"{record.name} (one-shot record, harness.oneshot)")


def oneshot_methods(backend: Backend, taken: set[str]) -> list[PruningMethod]:
    """The backend's one-shot records whose rule is not in ``taken`` (the rules its contract classes give)."""
    methods = []
    for record in oneshot_pruners(backend):
        method = oneshot_method(backend, record)
        if method.rule.name not in taken:
            methods.append(method)
            taken.add(method.rule.name)
    return methods
