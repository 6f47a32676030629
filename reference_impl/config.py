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

from .tensor_fqn import TensorLocation, locate_tensor, parameter_of

LOCATION_KEYS = ("module", "module_fqn", "tensor_name")
"""Group keys that point into a live model; they are never saved in a ``state_dict``."""


def config_for_modules(model: nn.Module, supported: Iterable[type[nn.Module]]) -> list[dict]:
    """One ``{"tensor_fqn": "<fqn>.weight"}`` entry for every module of an exactly supported type.

    Matching is on the exact type (as torch does), so a subclass of ``nn.Linear`` with a custom
    forward is not sparsified behind its author's back. A module reachable under several names, or a
    weight tied between modules, is configured once, under its first name.
    """
    supported = tuple(supported)
    config = [
        {"tensor_fqn": f"{fqn}.weight" if fqn else "weight"}
        for fqn, module in model.named_modules()
        if type(module) in supported
    ]
    return drop_repeated_tensors(model, config)


def drop_repeated_tensors(model: nn.Module, config: Sequence[Mapping[str, Any]]) -> list[dict]:
    """``config`` without the entries whose tensor an earlier entry already names (tied weights)."""
    seen: set[int] = set()
    unique = []
    for entry in config:
        identity = id(tensor_identity(locate_tensor(model, entry["tensor_fqn"])))
        if identity not in seen:
            seen.add(identity)
            unique.append(dict(entry))
    return unique


def tensor_identity(location: TensorLocation) -> nn.Parameter:
    """The Parameter object behind a location: the same for a shared module or a tied weight."""
    return parameter_of(location.module, location.tensor_name)


def check_config_shape(config: object) -> Sequence[Mapping[str, Any]]:
    """Reject anything that is not a list (or tuple) of dicts, naming the offending entry."""
    if isinstance(config, (Mapping, str, bytes)) or not isinstance(config, Sequence):
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
        odd_keys = [key for key in entry if not isinstance(key, str)]
        if odd_keys:
            raise TypeError(f"config[{index}] has keys {odd_keys!r}; config keys must be strings (setting names)")
    return config


def build_groups(
    model: nn.Module, defaults: Mapping[str, Any], config: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Merge defaults under each config entry, resolve its tensor, and reject duplicates."""
    check_config_shape(config)
    groups: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for index, entry in enumerate(config):
        group = copy.deepcopy(dict(defaults))
        group.update(entry)
        location = locate_tensor(model, group["tensor_fqn"])
        _check_agrees_with_location(index, group, location.as_group_keys())
        identity = id(tensor_identity(location))
        if identity in seen:
            first = seen[identity]
            raise ValueError(
                f"config[{index}] names tensor_fqn {group['tensor_fqn']!r}, the same tensor as "
                f"config[{first}] ({groups[first]['tensor_fqn']!r}); each tensor may be configured once "
                "(a module reachable under two names and a tied weight are one tensor)"
            )
        seen[identity] = index
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
