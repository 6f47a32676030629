"""The state one walk over an exported graph builds, and the primitives every op rule shares.

``FlowState`` holds the tags of every node computed so far (``tags``), the spaces and their links
(``graph``), and how often each module is called; ``_join`` is the one place where two tagged
operands of an op tie their channels together. The op rules live in mixins, one module per family
(``layers``, ``elementwise``, ``shapes``, ``attention``), each declaring the ATen ops it handles in
``OPS``; ``flow.ChannelFlow`` combines them.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn
from torch.fx import Node
from torch.nn.utils import parametrize

from .capture import Captured
from .spaces import SpaceGraph
from .tags import ChannelTag, Tag, Tags, UnitTag, WithinTag, tag_spaces, with_zero


def op_name(target: object) -> str:
    """``aten.add_.Tensor`` -> ``add`` (in-place ops read like their functional form)."""
    if target is operator.getitem:
        return "getitem"
    name = getattr(target, "__name__", str(target)).split(".")[0]
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


def shape_of(value: object) -> tuple[int, ...] | None:
    """The static shape captured for ``value`` (None for non-tensors): export stores a fake tensor, the
    recording its shape."""
    val = value.meta.get("val") if isinstance(value, Node) else None
    if isinstance(val, torch.Tensor):
        val = val.shape
    return tuple(int(n) for n in val) if isinstance(val, torch.Size) else None


def norm_dim(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def own_parameters(module: nn.Module) -> list[torch.Tensor]:
    """``module``'s own parameters as before ``prepare``: a parametrized tensor counts as its original
    (held by ``module.parametrizations``), a bias moved aside as ``_bias`` as the bias."""
    parameters = [p for p in module._parameters.values() if p is not None]
    if parametrize.is_parametrized(module):
        for parametrization in module.parametrizations.values():
            parameters += [p for p in parametrization._parameters.values() if p is not None]
    return parameters


def has_bias(module: nn.Module) -> bool:
    """Whether the Linear / Conv2d ``module`` adds a bias (moved aside to ``_bias`` by ``prepare`` or not)."""
    return module._parameters.get("bias") is not None or module._parameters.get("_bias") is not None


def _tied_modules(modules: Mapping[str, nn.Module]) -> set[str]:
    """Fqns of modules holding a parameter another module holds too (tied weights)."""
    holders: dict[int, set[str]] = {}
    for fqn, module in modules.items():
        if isinstance(module, parametrize.ParametrizationList):  # its original counts as its module's, above
            continue
        for parameter in own_parameters(module):
            holders.setdefault(id(parameter), set()).add(fqn)
    return {fqn for fqns in holders.values() if len(fqns) > 1 for fqn in fqns}


class FlowState:
    """What the walk knows so far; see the module docstring."""

    OPS: ClassVar[dict[str, str]] = {}
    """ATen op name -> the rule method handling it (each mixin declares its own)."""

    def __init__(
        self, captured: Captured, modules: Mapping[str, nn.Module], masked: Mapping[str, bool], channel_hooks: bool
    ) -> None:
        """``masked``: fqn -> prune_bias of each configured module; ``channel_hooks``: whether the masked
        model zeroes masked channels after BatchNorm (hooks attached at ``prepare``)."""
        self.captured = captured
        self.modules = modules
        self.masked = masked
        self.channel_hooks = channel_hooks
        self.graph = SpaceGraph()
        self.tags: dict[Node, Any] = {}
        self.calls: Counter[str] = Counter()
        self.tied = _tied_modules(modules)

    def _input_tags(self, node: Node) -> Tags:
        """Every tag on any tensor input (for spoiling), merged; dims are meaningless here."""
        merged: Tags = {}
        for arg in node.all_input_nodes:
            value = self.tags.get(arg)
            if isinstance(value, dict):
                for tag in value.values():
                    merged[len(merged)] = tag
            elif isinstance(value, list):
                for tags in value:
                    for tag in tags.values():
                        merged[len(merged)] = tag
        return merged

    def _of(self, value: object) -> Tags:
        tags = self.tags.get(value) if isinstance(value, Node) else None
        return tags if isinstance(tags, dict) else {}

    def _spoil(self, tags: Tags, reason: str) -> None:
        for space in tag_spaces(tags):
            self.graph.unsafe(space, reason)

    def _where(self, node: Node) -> str:
        module = Captured.module_of(node)
        return f"in {module!r}" if module else "in the model's own forward"

    def _join(self, node: Node, name: str, a: Tag, b: Tag) -> Tag | None:
        """Two tagged operands on one dim: the same channels, so their spaces are linked."""
        if isinstance(a, ChannelTag) and isinstance(b, ChannelTag):
            if [s.size for s in a.segments] != [s.size for s in b.segments] or a.block != b.block:
                self._spoil({0: a, 1: b}, f"{name} of differently concatenated channels ({self._where(node)})")
                return a
            for left, right in zip(a.segments, b.segments, strict=True):
                self.graph.link(left.space, right.space, left.size)
            zero = (a.zero or b.zero) if name == "mul" else (a.zero and b.zero)
            return with_zero(a, zero)
        if isinstance(a, UnitTag) and isinstance(b, UnitTag) and (a.size, a.rep) == (b.size, b.rep):
            units = self.graph.spaces[a.space].size // a.size
            self.graph.link(a.space, b.space, units)
            zero = (a.zero or b.zero) if name == "mul" else (a.zero and b.zero)
            return with_zero(a, zero)
        if isinstance(a, WithinTag) and isinstance(b, WithinTag) and a.size == b.size:
            return WithinTag(a.space, a.size, a.exact and b.exact)
        self._spoil({0: a, 1: b}, f"{name} of channels laid out differently ({self._where(node)})")
        return a
