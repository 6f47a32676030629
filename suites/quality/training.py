"""The one optimisation loop: training from scratch and the fine-tuning budget after pruning.

Every method's pruned model is fine-tuned by the same code, optimiser, schedule, steps and batches
(the batches come from a generator seeded per seed, so every method sees the same ones). Pruned
weights stay pruned: the exact zeros a method left in the configured layers are zeroed again after
every optimiser step (ShrinkBench's masks kept during fine-tuning), whatever the library's own
masking machinery was, so no method recovers quality by growing weights back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .models import Training
from .tasks import Task


@dataclass(frozen=True)
class FrozenZeros:
    """The zero entries of one weight that must stay zero: ``keep`` is False there."""

    fqn: str
    weight: torch.nn.Parameter
    keep: torch.Tensor

    @torch.no_grad()
    def apply(self) -> None:
        self.weight.mul_(self.keep)


def frozen_zeros(model: nn.Module, layers: Sequence[str]) -> list[FrozenZeros]:
    """The exact zeros of each configured layer's weight (layers a pruner replaced or removed are skipped).

    A trained float weight has no exact zeros of its own, so every zero here is the method's doing.
    """
    masks = []
    for fqn in layers:
        try:
            weight = model.get_submodule(fqn).weight
        except AttributeError:
            continue
        if isinstance(weight, nn.Parameter) and not bool(weight.all()):
            masks.append(FrozenZeros(fqn, weight, (weight != 0).to(weight.dtype)))
    return masks


def _schedule(settings: Training) -> Callable[[int], float]:
    """Linear warm-up over ``warmup_fraction`` of the steps, then cosine decay to zero."""
    warmup = max(int(settings.steps * settings.warmup_fraction), 0)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(settings.steps - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def optimize(
    model: nn.Module,
    task: Task,
    settings: Training,
    generator: torch.Generator,
    zeros: Sequence[FrozenZeros] = (),
) -> float:
    """Train ``model`` in place for ``settings.steps`` batches; returns the last batch's loss."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(settings))
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(settings.steps):
        loss = task.loss(model, task.train_batch(settings.batch_size, generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        for mask in zeros:
            mask.apply()
    model.eval()
    return loss.item()
