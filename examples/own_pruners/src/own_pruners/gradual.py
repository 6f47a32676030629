"""``GradualMagnitudeSparsifier``: magnitude pruning whose level ramps up over several ``step()`` calls.

The schedule is Zhu & Gupta's automated gradual pruning (AGP, arXiv:1710.01878): at step ``t`` of
``total_steps`` the level is ``sparsity_level * (1 - (1 - t / total_steps) ** 3)``, so pruning is fast
while the network has redundancy and slow near the end. The step count lives in ``self.state``, which
``state_dict()`` saves: a training run resumed from a checkpoint continues the ramp where it stopped.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from torch.ao.pruning import BaseSparsifier


class GradualMagnitudeSparsifier(BaseSparsifier):
    """Zeroes the smallest-magnitude weights of each tensor, at a level that reaches ``sparsity_level``
    after ``total_steps`` steps and stays there."""

    prunebench_tags: ClassVar[dict[str, Any]] = {
        "steps_to_level": "total_steps"
    }  # the checks judge the level once the ramp is done

    def __init__(self, sparsity_level: float = 0.5, total_steps: int = 4) -> None:
        if not 0.0 <= sparsity_level <= 1.0:
            raise ValueError(f"sparsity_level must lie in [0, 1], got {sparsity_level}")
        if total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {total_steps}")
        super().__init__(defaults={"sparsity_level": sparsity_level, "total_steps": total_steps})

    def current_level(self, tensor_fqn: str, sparsity_level: float, total_steps: int) -> float:
        done = min(self.state[tensor_fqn].get("step", 0), total_steps)
        return sparsity_level * (1.0 - (1.0 - done / total_steps) ** 3)

    def update_mask(
        self, module: nn.Module, tensor_name: str, sparsity_level: float, total_steps: int, **kwargs: Any
    ) -> None:
        tensor_fqn = kwargs["tensor_fqn"]
        self.state[tensor_fqn]["step"] = self.state[tensor_fqn].get("step", 0) + 1
        level = self.current_level(tensor_fqn, sparsity_level, total_steps)
        weight = module.parametrizations[tensor_name].original.detach()
        zeros = round(level * weight.numel())
        keep = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)
        if zeros:
            keep[weight.abs().flatten().topk(zeros, largest=False).indices] = False
        mask = module.parametrizations[tensor_name][0].mask
        mask.copy_(keep.reshape(mask.shape))
