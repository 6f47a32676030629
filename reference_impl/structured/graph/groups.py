"""From the linked spaces of a model to its pruning groups, and the layers that must stay whole.

A ``PruneGroup`` is what ``step()`` masks as one and ``prune()`` shrinks as one: its member layers
(the configured Linear / Conv2d writing any of its spaces) lose the same units. A configured layer
that is not in a prunable group is *left whole*; ``GraphPlan.unpruned`` says why, one reason per
layer, so the user can read it from ``sparsifier.unpruned_layers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import nn

from .capture import Captured
from .flow import ChannelFlow
from .spaces import Space, SpaceGraph

MAX_REASONS = 3
"""Reasons reported per layer left whole: the first ones found, in graph order."""


@dataclass
class PruneGroup:
    """Spaces pruned together, in ``units`` equal units each; ``members`` are their masked layers."""

    units: int
    spaces: list[Space]
    members: list[str]  # module fqns, in the order their spaces were opened

    def unit_size(self, space: Space) -> int:
        """Channels per unit in ``space``."""
        return space.size // self.units

    def rows_per_unit(self, member: str) -> int:
        """Output rows per unit of the member layer ``member``."""
        return next(self.unit_size(s) for s in self.spaces if member in s.producers)

    def describe(self) -> str:
        return f"{len(self.members)} layer(s) {self.members} in {self.units} units"


@dataclass
class GraphPlan:
    """The prunable groups of a model and the configured layers left whole (fqn -> why)."""

    groups: list[PruneGroup] = field(default_factory=list)
    unpruned: dict[str, str] = field(default_factory=dict)


def _called_once(flow: ChannelFlow, space: Space) -> str | None:
    """Why ``space`` cannot be resized because a module touching it is called more than once."""
    touched = [*space.producers, *(c.module for c in space.consumers), *space.channel_modules]
    touched += [g.module for g in space.grouped_convs]
    for fqn in touched:
        if flow.calls[fqn] > 1:
            return f"{fqn!r} is called {flow.calls[fqn]} times; a shared module cannot shrink in one place only"
    return None


def _group_reason(graph: SpaceGraph, root: int, spaces: list[Space], flow: ChannelFlow) -> str | None:
    reasons = graph.reasons(root)
    if reasons:
        more = len(reasons) - MAX_REASONS
        return "; ".join(reasons[:MAX_REASONS]) + (f" (and {more} more)" if more > 0 else "")
    for space in spaces:
        reason = _called_once(flow, space)
        if reason:
            return f"{space.label}: {reason}"
    if graph.units(root) < 2:
        sizes = {s.label: s.size for s in spaces}
        return f"its channels are tied into one indivisible unit ({sizes})"
    return None


def plan_groups(
    captured: Captured, modules: Mapping[str, nn.Module], masked: Mapping[str, bool], channel_hooks: bool
) -> GraphPlan:
    """Analyse ``captured`` and group the ``masked`` layers (fqn -> prune_bias); see the module docstring."""
    flow = ChannelFlow(captured, modules, masked, channel_hooks)
    graph = flow.run()
    plan = GraphPlan()
    for root, spaces in graph.groups().items():
        members = [fqn for space in spaces for fqn in space.producers if fqn in masked]
        if not members:
            continue
        reason = _group_reason(graph, root, spaces, flow)
        if reason is None:
            plan.groups.append(PruneGroup(graph.units(root), spaces, list(dict.fromkeys(members))))
            continue
        for fqn in members:
            plan.unpruned.setdefault(fqn, reason)
    grouped = {fqn for group in plan.groups for fqn in group.members}
    for fqn in masked:
        if fqn not in grouped and fqn not in plan.unpruned:
            plan.unpruned[fqn] = "the exported graph never calls it as a Linear / Conv2d module"
    return plan
