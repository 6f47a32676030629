"""Checks every sparsifier shares: what a sparsified tensor, a config's mask and a saved state must be.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, outside the
accepted range) with a message that names the bad value and says what is accepted. They run before
the model is touched, so a rejected input never leaves a half-prepared model behind.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

Function = TypeVar("Function", bound=Callable)

FLOAT_DTYPES = "a floating-point dtype (float16, bfloat16, float32, float64)"


class UnsupportedOptionError(ValueError, NotImplementedError):
    """A well-typed option value this implementation does not provide (``norm=3``, ``dist=7``).

    A ``ValueError`` for callers validating input, and a ``NotImplementedError`` as torch raises.
    """


def resolve_function(name: str, value: object, builtins: Mapping[int, Function], default: int) -> Function:
    """An option naming a function: None (``builtins[default]``), a callable, or an int key of ``builtins``.

    Anything else that is not an int (bools included) is a ``TypeError``; an int without a built-in
    function an ``UnsupportedOptionError``.
    """
    accepted = f"{', '.join(map(str, builtins))}, None (meaning {default}) or a callable"
    if value is None:
        return builtins[default]
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {accepted}, got {value!r}")
    if value not in builtins:
        raise UnsupportedOptionError(f"{name}={value!r} is not supported; use {accepted}")
    return builtins[int(value)]


def check_floating(tensor: torch.Tensor, tensor_fqn: str) -> None:
    """Masks rank and zero real numbers: integer, bool and complex tensors are rejected."""
    if not tensor.dtype.is_floating_point:
        raise TypeError(f"tensor_fqn {tensor_fqn!r} has dtype {tensor.dtype}; sparsifiers need {FLOAT_DTYPES}")


def check_config_mask(mask: object, shape: tuple[int, ...], tensor_fqn: str) -> None:
    """A mask given in a config entry must be a tensor of the mask shape of the tensor it masks."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask for {tensor_fqn!r} must be a tensor of shape {shape}, got {type(mask).__name__}")
    if tuple(mask.shape) != shape:
        raise ValueError(f"mask for {tensor_fqn!r} must be a tensor of shape {shape}, got shape {tuple(mask.shape)}")


def check_saved_state(state_dict: object) -> tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]:
    """``state_dict`` is ``{"state": {fqn: {...}}, "groups": [{"tensor_fqn": str, ...}, ...]}``.

    Returns its ``state`` and ``groups``; anything else is an error naming the offending part.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a dict with keys 'state' and 'groups', got {type(state_dict).__name__}")
    missing = [key for key in ("state", "groups") if key not in state_dict]
    if missing:
        raise ValueError(f"state_dict has no {missing[0]!r} entry; expected keys 'state' and 'groups'")
    state, groups = state_dict["state"], state_dict["groups"]
    if not isinstance(state, Mapping):
        raise TypeError(f"state_dict['state'] must be a dict of tensor_fqn -> dict, got {type(state).__name__}")
    if isinstance(groups, (str, bytes, Mapping)) or not isinstance(groups, Sequence):
        raise TypeError(f"state_dict['groups'] must be a list of dicts, got {type(groups).__name__}")
    for index, group in enumerate(groups):
        if not isinstance(group, Mapping) or not isinstance(group.get("tensor_fqn"), str):
            raise TypeError(f"state_dict['groups'][{index}] must be a dict with a string 'tensor_fqn', got {group!r}")
    for fqn, entry in state.items():
        if not isinstance(entry, Mapping):
            raise TypeError(f"state_dict['state'][{fqn!r}] must be a dict, got {type(entry).__name__}")
        mask = entry.get("mask")
        if mask is not None and not isinstance(mask, torch.Tensor):
            raise TypeError(f"state_dict['state'][{fqn!r}]['mask'] must be a tensor, got {type(mask).__name__}")
    return state, groups


def meta_tensor_names(model: nn.Module) -> list[str]:
    """Names of the parameters and buffers of ``model`` that live on the meta device (no values)."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return [name for name, tensor in tensors if tensor.is_meta]
