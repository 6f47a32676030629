"""Shrinking the original modules in place once every group's fate is decided.

Every index is computed against the original sizes first (``Cuts``), then each module is cut once:
a Conv2d after a concatenation loses input columns from two groups, a grouped convolution loses
filters and groups, a producer may also be a consumer of another group (rows and columns are
different dims). Declared sizes (``in_features``, ``out_channels``, ``groups``, ``num_features``)
follow the tensors, and so do the head counts of the module that split a space into heads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from ...fake_sparsity import bake_mask
from ..bias import restore_bias
from ..masks import layer_type
from .groups import PruneGroup
from .spaces import HeadSplit, Space


@dataclass
class Cuts:
    """Per module fqn: output rows and input columns to drop, grouped convs and BatchNorm channels."""

    rows: dict[str, set[int]] = field(default_factory=dict)
    columns: dict[str, set[int]] = field(default_factory=dict)
    channels: dict[str, set[int]] = field(default_factory=dict)  # BatchNorm layers
    params: dict[tuple[str, int], set[int]] = field(default_factory=dict)  # (parameter fqn, dim)
    heads: list[tuple[HeadSplit, int]] = field(default_factory=list)  # split, heads left


def dropped_channels(group: PruneGroup, space: Space, dropped_units: torch.Tensor) -> list[int]:
    """Channel indices of ``space`` in the ``dropped_units`` of ``group``."""
    size = group.unit_size(space)
    return [int(u) * size + offset for u in dropped_units.tolist() for offset in range(size)]


def add_cuts(cuts: Cuts, group: PruneGroup, dropped_units: torch.Tensor) -> None:
    """Record everything ``group`` losing ``dropped_units`` removes."""
    for space in group.spaces:
        channels = dropped_channels(group, space, dropped_units)
        for fqn in space.producers:
            cuts.rows.setdefault(fqn, set()).update(channels)
        for consumer in space.consumers:
            block = consumer.block
            columns = {consumer.offset + c * block + k for c in channels for k in range(block)}
            cuts.columns.setdefault(consumer.module, set()).update(columns)
        for fqn in space.channel_modules:
            cuts.channels.setdefault(fqn, set()).update(channels)
        for key in space.channel_params:
            cuts.params.setdefault(key, set()).update(channels)
        for split in space.head_splits:
            cuts.heads.append((split, (space.size - len(channels)) // split.head_size))


class Journal:
    """Everything a cut replaced on the model, so that ``undo`` puts the model back as it was.

    ``prune()`` checks a cut on the model itself (no copy of a large model) and undoes it when the
    pruned model does not compute what the masked one did.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[dict | None, nn.Module, str, object]] = []

    def replace(self, module: nn.Module, name: str, tensor: torch.Tensor) -> None:
        """Swap in ``tensor`` for the parameter or buffer ``name`` of ``module``."""
        table = module._buffers if name in module._buffers else module._parameters
        old = table[name]
        self._entries.append((table, module, name, old))
        table[name] = tensor.contiguous() if table is module._buffers else _parameter(tensor, old)

    def set(self, module: nn.Module, name: str, value: object) -> None:
        """Set the attribute ``name`` (a declared size, a head count) of ``module``."""
        self._entries.append((None, module, name, getattr(module, name)))
        setattr(module, name, value)

    def undo(self) -> None:
        for table, module, name, old in reversed(self._entries):
            if table is None:
                setattr(module, name, old)
            else:
                table[name] = old
        self._entries.clear()


def _parameter(tensor: torch.Tensor, old: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(tensor.contiguous(), requires_grad=old.requires_grad)


def _kept(size: int, dropped: set[int], device: torch.device) -> torch.Tensor:
    return torch.tensor([i for i in range(size) if i not in dropped], dtype=torch.long, device=device)


def _cut(module: nn.Module, names: Iterable[str], dim: int, dropped: set[int], journal: Journal) -> int:
    """Drop ``dropped`` along ``dim`` of each named tensor of ``module``; returns the size left."""
    left = 0
    for name in names:
        tensor = getattr(module, name, None)
        if tensor is None:
            continue
        index = _kept(tensor.shape[dim], dropped, tensor.device)
        journal.replace(module, name, tensor.detach().index_select(dim, index))
        left = index.numel()
    return left


def bake(module: nn.Module) -> None:
    """Make a masked module plain: masked rows and biases as zeros in its own tensors, no hooks."""
    restore_bias(module)
    for name in list(getattr(module, "parametrizations", {})):
        bake_mask(module, name)


def _shrink_layer(fqn: str, module: nn.Module, cuts: Cuts, journal: Journal) -> None:
    rows, columns = cuts.rows.get(fqn, set()), cuts.columns.get(fqn, set())
    linear = isinstance(module, nn.Linear)
    if columns:
        left = _cut(module, ["weight"], 1, columns, journal)
        journal.set(module, *(("in_features", left) if linear else ("in_channels", left * module.groups)))
    if rows:
        out = module.weight.shape[0]
        left = _cut(module, ["weight", "bias"], 0, rows, journal)
        if linear:
            journal.set(module, "out_features", left)
            return
        if module.groups > 1:
            journal.set(module, "groups", module.groups * left // out)
            journal.set(module, "in_channels", module.weight.shape[1] * module.groups)
        journal.set(module, "out_channels", left)


def _set_head_counts(owners: Mapping[str, nn.Module], heads: list[tuple[HeadSplit, int]], journal: Journal) -> None:
    """Update the int attributes of each splitting module that hold its head count or head total.

    An attribute is updated only when its name mentions heads and exactly one new value fits it:
    a head count (``num_attention_heads``, ``num_key_value_heads``) equals some split's old head
    count, a head total (``all_head_size``) equals some split's old channel count.
    """
    by_owner: dict[str, list[tuple[HeadSplit, int]]] = {}
    for split, left in heads:
        by_owner.setdefault(split.owner, []).append((split, left))
    for owner, splits in by_owner.items():
        module = owners[owner]
        for name, value in list(vars(module).items()):
            if name.startswith("_") or isinstance(value, bool) or not isinstance(value, int) or "head" not in name:
                continue
            is_total = "size" in name or "dim" in name
            new = {left * s.head_size if is_total else left for s, left in splits
                   if value == (s.heads * s.head_size if is_total else s.heads)}  # fmt: skip
            if len(new) == 1:
                journal.set(module, name, new.pop())


def apply_cuts(model: nn.Module, cuts: Cuts, journal: Journal) -> None:
    """Shrink ``model``'s modules and parameters as ``cuts`` says (the model is already baked), noting in
    ``journal`` what was replaced."""
    modules = dict(model.named_modules())
    for fqn in set(cuts.rows) | set(cuts.columns):
        module = modules[fqn]
        if layer_type(module) in (nn.Linear, nn.Conv2d):
            _shrink_layer(fqn, module, cuts, journal)
    for fqn, channels in cuts.channels.items():
        norm = modules[fqn]
        left = _cut(norm, ["weight", "bias", "running_mean", "running_var"], 0, channels, journal)
        journal.set(norm, "num_features", left)
    for (parameter, dim), channels in cuts.params.items():
        owner, _, name = parameter.rpartition(".")
        _cut(modules[owner], [name], dim, channels, journal)
    _set_head_counts(modules, cuts.heads, journal)
