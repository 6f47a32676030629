"""``step()`` for graph-planned groups: one decision per unit, written into every member's row mask.

Members of a group must lose the same units, or the masked model would be something no smaller
model computes. So a group's rows are scored together: each member's row scores (the pruner's
``row_scores``, or failing that its own ``update_mask`` votes) are summed per unit, and the
``int(units * sparsity_level)`` lowest units go from every member (at least one unit stays). Layers
left whole get all-ones masks.

A masked channel must be an exact zero wherever it is read for dropping it to be exact. A masked
Conv2d row is zero, but a BatchNorm after it adds its shift; ``ChannelMaskHook`` on such BatchNorm
layers zeroes the masked channels of its output, which is what removing the channel computes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..masks import keep_of, row_mask_parametrization
from .groups import GraphPlan, PruneGroup

RowScores = Callable[[nn.Module, str, Mapping[str, Any]], "torch.Tensor | None"]


class ChannelMaskHook:
    """Forward hook zeroing the channels (dim 1) that a producer's row mask removes."""

    prunebench_channel_mask = True  # lets ``capture.unmasked_copy`` recognise and drop it

    def __init__(self, parametrization: nn.Module) -> None:
        self.param = parametrization

    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        keep = keep_of(self.param.mask).to(output.dtype)
        shape = [1] * output.dim()
        shape[1] = -1
        return output * keep.reshape(shape)


def zero_channels(norm: nn.Module, keep: torch.Tensor) -> None:
    """Bake a ``ChannelMaskHook`` into a BatchNorm: masked channels' weight and bias become zero."""
    with torch.no_grad():
        for tensor in (norm.weight, norm.bias):
            if tensor is not None:
                tensor.mul_(keep.to(device=tensor.device, dtype=tensor.dtype))


def release_channel_hooks(model: nn.Module) -> None:
    """Bake every ``ChannelMaskHook`` into its BatchNorm, then remove the hook."""
    for module in model.modules():
        for key, hook in list(module._forward_hooks.items()):
            if isinstance(hook, ChannelMaskHook):
                zero_channels(module, keep_of(hook.param.mask))
                module._forward_hooks.pop(key)


def attach_channel_hooks(plan: GraphPlan, model: nn.Module) -> list[RemovableHandle]:
    """A ``ChannelMaskHook`` on every BatchNorm over a prunable group's channels."""
    handles = []
    for group in plan.groups:
        for space in group.spaces:
            if not space.channel_modules:
                continue
            producer = model.get_submodule(space.producers[0])
            parametrization = row_mask_parametrization(producer, "weight")
            for fqn in space.channel_modules:
                handles.append(model.get_submodule(fqn).register_forward_hook(ChannelMaskHook(parametrization)))
    return handles


def _mask(settings: Mapping[str, Any]) -> torch.Tensor:
    return row_mask_parametrization(settings["module"], settings["tensor_name"]).mask


def _level(settings: Mapping[str, Any], mask: torch.Tensor) -> float:
    """The member's sparsity_level, or the fraction of rows its own rule masked."""
    level = settings.get("sparsity_level")
    if isinstance(level, (int, float)) and not isinstance(level, bool):
        return float(level)
    return float((~keep_of(mask)).float().mean())


def step_group(
    group: PruneGroup,
    members: Mapping[str, Mapping[str, Any]],
    row_scores: RowScores,
    update_mask: Callable[..., None],
) -> None:
    """Choose the group's pruned units and write them into every member's mask (see module docstring)."""
    scores = {fqn: row_scores(s["module"], s["tensor_name"], s) for fqn, s in members.items()}
    for settings in members.values():
        update_mask(**settings)
    use_votes = any(score is None for score in scores.values())
    total = torch.zeros(group.units, dtype=torch.float64)
    levels = []
    for fqn, settings in members.items():
        mask = _mask(settings)
        levels.append(_level(settings, mask))
        rows = keep_of(mask).double() if use_votes else scores[fqn].detach().double()
        total += rows.cpu().reshape(group.units, -1).sum(1)
    level = sum(levels) / len(levels)
    count = min(int(group.units * level), group.units - 1)
    order = torch.sort(total, stable=True).indices
    keep_units = torch.ones(group.units, dtype=torch.bool)
    keep_units[order[:count]] = False
    for settings in members.values():
        mask = _mask(settings)
        rows = keep_units.repeat_interleave(mask.numel() // group.units).to(mask.device)
        mask.copy_(rows if mask.dtype == torch.bool else rows.to(mask.dtype))


def step_plan(
    plan: GraphPlan, settings_of: Mapping[str, Mapping[str, Any]], row_scores: RowScores, update_mask: Callable
) -> None:
    """One ``step()`` over the whole plan: groups pruned together, layers left whole kept whole."""
    for fqn in plan.unpruned:
        if fqn in settings_of:
            _mask(settings_of[fqn]).fill_(True)
    for group in plan.groups:
        step_group(group, {fqn: settings_of[fqn] for fqn in group.members}, row_scores, update_mask)
