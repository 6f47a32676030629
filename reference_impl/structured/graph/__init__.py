"""Graph-based structured pruning, for models ``torch.fx.symbolic_trace`` cannot trace.

``GraphPruning`` is what ``BaseStructuredSparsifier`` holds for such a model: the plan made from its
captured graph (``capture``: recorded, or exported; ``flow``, ``groups``), the masks it keeps
consistent (``masking``), and ``prune()``, which decides each group's fate, shrinks the module in
place (``apply``) and checks the result against the masked model (``verify``), undoing any cut that
changes what the model computes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..masks import keep_of, row_mask_parametrization
from .apply import Cuts, Journal, add_cuts, apply_cuts, bake
from .capture import Captured, CaptureError, capture, check_example_inputs
from .copies import plain_copy
from .groups import GraphPlan, PruneGroup, plan_groups
from .masking import RowScores, attach_channel_hooks, release_channel_hooks, step_plan
from .verify import EvalMode, failure, masked_outputs

__all__ = ["CaptureError", "GraphPruning", "check_example_inputs", "release_channel_hooks", "summary"]

Drop = tuple[PruneGroup, torch.Tensor]
"""A group and the indices of the units it loses."""


def _unit_keep(group: PruneGroup, module: nn.Module) -> torch.Tensor | None:
    """Per unit: True kept, False dropped; None when some unit is only partly masked."""
    keep = keep_of(row_mask_parametrization(module, "weight").mask).reshape(group.units, -1)
    whole = keep.all(1) | ~keep.any(1)
    return keep.all(1).cpu() if bool(whole.all()) else None


def decide(plan: GraphPlan, model: nn.Module) -> tuple[list[Drop], dict[str, str]]:
    """Which units each group loses, and the layers of groups whose masks forbid pruning them."""
    drops: list[Drop] = []
    whole: dict[str, str] = {}
    for group in plan.groups:
        keeps = [_unit_keep(group, model.get_submodule(fqn)) for fqn in group.members]
        if any(k is None for k in keeps) or any(not torch.equal(k, keeps[0]) for k in keeps):
            reason = f"its masks do not remove the same whole units from {group.members} (set after step()?)"
            whole.update(dict.fromkeys(group.members, reason))
        elif not bool(keeps[0].any()):
            whole.update(dict.fromkeys(group.members, "every unit of its group is masked; one must stay"))
        elif not bool(keeps[0].all()):
            drops.append((group, (~keeps[0]).nonzero().squeeze(1)))
    return drops, whole


def bake_all(model: nn.Module, masked: list[str]) -> None:
    """Bake every mask and hook into ``model``: what the masked model computes, in plain tensors."""
    release_channel_hooks(model)
    for fqn in masked:
        bake(model.get_submodule(fqn))


def finish(model: nn.Module, masked: list[str], drops: list[Drop]) -> None:
    """Bake every mask and hook into ``model``, then cut the ``drops``."""
    bake_all(model, masked)
    cut(model, drops)


def cut(model: nn.Module, drops: list[Drop]) -> Journal:
    """Cut the ``drops`` out of a model whose masks are baked; the journal can undo it."""
    cuts, journal = Cuts(), Journal()
    for group, units in drops:
        add_cuts(cuts, group, units)
    apply_cuts(model, cuts, journal)
    return journal


class GraphPruning:
    """The graph plan of one prepared model, with the example inputs it was made from."""

    def __init__(self, plan: GraphPlan, inputs: tuple, method: str | None = None) -> None:
        self.plan = plan
        self.inputs = inputs
        self.method = method  # how the graph was captured: "recorded", "export", or None (it could not be)

    @staticmethod
    def capture(model: nn.Module, inputs: tuple) -> Captured | CaptureError:
        """``model``'s graph (recorded as it is when it is plain, else from a clean copy), or why it cannot be had."""
        try:
            return capture(model, inputs, lambda: plain_copy(model))
        except CaptureError as error:
            return error

    @classmethod
    def plan(
        cls,
        captured: Captured | CaptureError,
        model: nn.Module,
        inputs: tuple,
        masked: Mapping[str, bool],
        channel_hooks: bool,
    ) -> GraphPruning:
        """Group the ``masked`` layers (fqn -> prune_bias) of the prepared ``model`` from its captured graph."""
        if isinstance(captured, CaptureError):  # nothing can be followed: every layer stays whole, and says why
            warnings.warn(f"{captured}; every configured layer will be left whole", stacklevel=3)
            return cls(GraphPlan(unpruned=dict.fromkeys(masked, str(captured))), inputs)
        plan = plan_groups(captured, dict(model.named_modules()), masked, channel_hooks)
        if channel_hooks:
            attach_channel_hooks(plan, model)
        return cls(plan, inputs, captured.method)

    @classmethod
    def plan_for(cls, model: nn.Module, inputs: tuple, masked: Mapping[str, bool], channel_hooks: bool) -> GraphPruning:
        """Capture the prepared ``model`` and plan its groups in one go (``prune()`` without a plan from prepare)."""
        return cls.plan(cls.capture(model, inputs), model, inputs, masked, channel_hooks)

    def step(self, settings_of: Mapping[str, Mapping[str, Any]], row_scores: RowScores, update_mask: Any) -> None:
        step_plan(self.plan, settings_of, row_scores, update_mask)

    def prune(self, model: nn.Module, masked: list[str]) -> dict[str, str]:
        """Prune ``model`` in place; returns every masked layer left whole and why (the caller warns).

        The cut is made on the baked model and checked there: a cut whose pruned model does not compute
        what the masked one did is undone, and its groups are tried one by one (``_without_failing``).
        """
        drops, whole = decide(self.plan, model)
        with EvalMode(model):
            expected = masked_outputs(model, self.inputs)
            bake_all(model, masked)
            journal = cut(model, drops)
            if failure(model, self.inputs, expected) is not None:
                journal.undo()
                drops, whole = self._without_failing(model, drops, whole, expected)
        return {**self.plan.unpruned, **whole}

    def _without_failing(
        self, model: nn.Module, drops: list[Drop], whole: dict[str, str], expected: list
    ) -> tuple[list[Drop], dict[str, str]]:
        """Try each group alone on the baked ``model``; those whose cut changes the output are left whole.
        The groups that pass alone are then cut together, and stay cut when that passes too."""
        kept = []
        for drop in drops:
            journal = cut(model, [drop])
            reason = failure(model, self.inputs, expected)
            journal.undo()
            if reason is None:
                kept.append(drop)
            else:
                whole.update(dict.fromkeys(drop[0].members, reason))
        journal = cut(model, kept)
        if kept and failure(model, self.inputs, expected) is not None:
            journal.undo()
            for group, _ in kept:
                whole.update(dict.fromkeys(group.members, "its cut changes the output together with other groups'"))
            kept = []
        return kept, whole


def summary(unpruned: Mapping[str, str], shown: int = 3) -> str:
    """The first layers left whole, each with the first reason found."""
    items = list(unpruned.items())[:shown]
    text = ", ".join(f"{fqn!r} ({reason.split('; ')[0]})" for fqn, reason in items)
    return text + (f" and {len(unpruned) - shown} more" if len(unpruned) > shown else "")
