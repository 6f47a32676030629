"""Turning a sparsifier's ``defaults`` and a user ``config`` into validated per-tensor groups.

A group is the dict a sparsifier keeps per sparsified tensor: the constructor defaults, overridden
by that tensor's config entry, plus where the tensor lives (``module``, ``module_fqn``,
``tensor_name``, ``tensor_fqn``). All validation happens here, before any model is touched, so a bad
config never leaves a half-prepared model behind.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import nn

from .tensor_fqn import locate_tensor

LOCATION_KEYS = ("module", "module_fqn", "tensor_name")
"""Group keys that point into a live model; they are never saved in a ``state_dict``."""


def config_for_modules(model: nn.Module, supported: Iterable[type[nn.Module]]) -> list[dict]:
    """One ``{"tensor_fqn": "<fqn>.weight"}`` entry for every module of an exactly supported type.

    Matching is on the exact type (as torch does), so a subclass of ``nn.Linear`` with a custom
    forward is not sparsified behind its author's back.
    """
    supported = tuple(supported)
    return [
        {"tensor_fqn": f"{fqn}.weight" if fqn else "weight"}
        for fqn, module in model.named_modules()
        if type(module) in supported
    ]


def check_config_shape(config: object) -> Sequence[Mapping[str, Any]]:
    """Reject anything that is not a list (or tuple) of dicts, naming the offending entry."""
    if isinstance(config, Mapping) or not isinstance(config, Sequence) or isinstance(config, str):
        raise TypeError(
            "config must be a list of dicts such as [{'tensor_fqn': 'linear1.weight'}], "
            f"got {type(config).__name__}: {config!r}"
        )
    for index, entry in enumerate(config):
        if not isinstance(entry, Mapping):
            raise TypeError(
                f"config[{index}] must be a dict with a 'tensor_fqn' key, got {type(entry).__name__}: {entry!r}"
            )
        if "tensor_fqn" not in entry:
            raise ValueError(
                f"config[{index}] = {dict(entry)!r} has no 'tensor_fqn'; every entry must name the "
                "tensor it sparsifies, e.g. {'tensor_fqn': 'linear1.weight'}"
            )
    return config


def build_groups(
    model: nn.Module, defaults: Mapping[str, Any], config: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Merge defaults under each config entry, resolve its tensor, and reject duplicates."""
    check_config_shape(config)
    groups: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(config):
        group = copy.deepcopy(dict(defaults))
        group.update(entry)
        location = locate_tensor(model, group["tensor_fqn"])
        _check_agrees_with_location(index, group, location.as_group_keys())
        key = f"{location.module_fqn}.{location.tensor_name}"
        if key in seen:
            raise ValueError(
                f"config[{index}] names tensor_fqn {group['tensor_fqn']!r}, already configured by "
                f"config[{seen[key]}]; each tensor may be configured once"
            )
        seen[key] = index
        group.update(location.as_group_keys())
        groups.append(group)
    return groups


def _check_agrees_with_location(index: int, group: Mapping, location: Mapping) -> None:
    """A config that also spells out ``module_fqn`` or ``tensor_name`` must agree with ``tensor_fqn``."""
    for key in ("module_fqn", "tensor_name", "module"):
        if key in group and group[key] is not location[key]:
            if key != "module" and group[key] == location[key]:
                continue
            raise ValueError(
                f"config[{index}] gives {key}={group[key]!r}, but its tensor_fqn "
                f"{group['tensor_fqn']!r} points to {key}={location[key]!r}"
            )


def saved_group(group: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a group that survives ``state_dict``: everything but live-model references."""
    return {key: value for key, value in group.items() if key not in LOCATION_KEYS}
