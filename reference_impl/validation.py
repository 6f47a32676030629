"""Checks every sparsifier shares: what a sparsified tensor, a config's mask and a saved state must be.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, outside the
accepted range) with a message that names the bad value and says what is accepted. They run before
the model is touched, so a rejected input never leaves a half-prepared model behind.
"""

from __future__ import annotations

import enum
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

Function = TypeVar("Function", bound=Callable)

FLOAT_DTYPES = "a floating-point dtype (float16, bfloat16, float32, float64)"


class UnsupportedOptionError(ValueError, NotImplementedError):
    """A well-typed option value this implementation does not provide (``norm=3``, ``dist=7``).

    A ``ValueError`` for callers validating input, and a ``NotImplementedError`` as torch raises.
    """


class OutOfRange(enum.Enum):
    """What a class does with a ``sparsity_level`` outside [0, 1]: each class declares one (``LevelPolicy``)."""

    RAISE = "raise"
    """A ``ValueError``: torch's ``int(rows * level)`` rows would be a negative or too large ``topk``."""
    CLAMP = "clamp"
    """Silently as the nearest end: torch's explicit branches, ``<= 0`` keeps every entry, ``>= 1`` masks all."""
    CLAMP_WITH_WARNING = "clamp with a warning"
    """As ``CLAMP``, with a ``UserWarning``: a level that was probably meant otherwise, but is legal."""


@dataclass(frozen=True)
class LevelPolicy:
    """The ``sparsity_level`` a class accepts: always a real number, not NaN; [0, 1], and what happens outside."""

    out_of_range: OutOfRange

    @property
    def accepted(self) -> str:
        """The accepted values in words, for error messages."""
        if self.out_of_range is OutOfRange.RAISE:
            return "a real number in [0, 1]"
        return "a real number (<= 0 keeps all, >= 1 masks all)"


RAISE_OUTSIDE_UNIT = LevelPolicy(OutOfRange.RAISE)
KEEP_ALL_MASK_ALL = LevelPolicy(OutOfRange.CLAMP)
CLAMP_WITH_WARNING = LevelPolicy(OutOfRange.CLAMP_WITH_WARNING)


def check_sparsity_level(level: object, policy: LevelPolicy, where: str = "", warn: bool = True) -> float:
    """``level`` as a float in [0, 1] under ``policy``, or an error naming it and the accepted range.

    Not a real number (bools and None included): ``TypeError``; NaN: ``ValueError``; outside [0, 1]:
    what ``policy`` says (a ``ValueError``, or the nearest end, with a warning unless ``warn`` is
    false, for callers that already warned about the same value). ``where`` names the tensor, e.g.
    ``" for 'linear1.weight'"``.
    """
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        unset = " (set it in defaults or in the config entry)" if level is None else ""
        raise TypeError(f"sparsity_level{where} must be {policy.accepted}{unset}, got {level!r}")
    if math.isnan(level):
        raise ValueError(f"sparsity_level{where} must be {policy.accepted}, got {level!r}")
    if 0.0 <= level <= 1.0:
        return float(level)
    if policy.out_of_range is OutOfRange.RAISE:
        raise ValueError(f"sparsity_level={level!r}{where} is outside [0, 1]; it must be {policy.accepted}")
    if warn and policy.out_of_range is OutOfRange.CLAMP_WITH_WARNING:
        warnings.warn(f"sparsity_level={level!r}{where} is outside [0, 1]; clamped", stacklevel=3)
    return min(1.0, max(0.0, float(level)))


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
