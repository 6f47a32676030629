"""Where a structured pruner's row masks live, and which tensors of which modules may carry one.

A row mask is a 1-D bool tensor with one entry per output row (Linear), filter (Conv2d) or gate row
(LSTM); it is stored in a ``FakeStructuredSparsity`` parametrization of the masked tensor. Readers
here never trust the stored dtype: a user ``update_mask`` may write 0/1 floats, and ``keep_of``
turns any mask into the bool "row survives" vector every other module works with.
"""

from __future__ import annotations

import functools
import re

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrize import type_before_parametrizations

LSTM_WEIGHT = re.compile(r"weight_(ih|hh|hr)_l(\d+)(_reverse)?")
"""Names of the LSTM tensors whose rows may be masked: gate rows (ih, hh) and projection rows (hr)."""

STRUCTURED_MODULES: frozenset[type[nn.Module]] = frozenset({nn.Linear, nn.Conv2d, nn.LSTM})
"""Module types a structured pruner masks and ``prune()`` knows how to shrink (subclasses that compute as
they do included, see ``layer_type``)."""

NOT_COMPUTATION = frozenset({"__init__", "extra_repr", "reset_parameters", "__setstate__", "__getstate__", "__repr__"})
"""Methods a subclass may override and still compute as its parent (construction, initialisation, display)."""

CALL_METHODS = ("__call__", "_call_impl", "_wrapped_call_impl")
"""``nn.Module``'s own methods on the way from a call to ``forward``."""


@functools.cache
def _computes_as(cls: type[nn.Module], kind: type[nn.Module]) -> bool:
    """Whether ``cls`` (a subclass of ``kind``) runs ``kind``'s own code: it overrides none of the methods
    ``kind`` and its bases up to ``nn.Module`` define, nor the call path, other than ``NOT_COMPUTATION``."""
    names = set(CALL_METHODS)
    for base in kind.__mro__[: kind.__mro__.index(nn.Module)]:
        names.update(name for name, value in vars(base).items() if _is_method(value))
    return all(_defined(cls, name) is _defined(kind, name) for name in names - NOT_COMPUTATION)


def _is_method(value: object) -> bool:
    return callable(value) or isinstance(value, (property, classmethod, staticmethod))


def _defined(cls: type, name: str) -> object:
    """The attribute ``name`` as the class that defines it for ``cls`` holds it (descriptors unbound)."""
    return next((vars(base)[name] for base in cls.__mro__ if name in vars(base)), None)


def layer_type(module: nn.Module) -> type[nn.Module]:
    """The type structured pruning treats ``module`` as: Linear, Conv2d or LSTM for those classes and for
    their subclasses that compute as they do (a Hugging Face-style subclass adding an attribute); the
    module's own class (parametrizations aside) for anything else, a subclass with its own forward
    included."""
    cls = type_before_parametrizations(module)
    for kind in STRUCTURED_MODULES:
        if cls is kind or (issubclass(cls, kind) and _computes_as(cls, kind)):
            return kind
    return cls


def overridden_layer(module: nn.Module) -> type[nn.Module] | None:
    """The supported layer type ``module``'s class subclasses while computing otherwise (its own
    ``forward``), or None. Such a layer is left whole: ``prune()`` cannot know how it uses its rows."""
    cls = type_before_parametrizations(module)
    if layer_type(module) is not cls:
        return None
    return next((kind for kind in STRUCTURED_MODULES if cls is not kind and issubclass(cls, kind)), None)


def overriding_reason(module: nn.Module) -> str:
    """Why the layer ``module`` (see ``overridden_layer``) is left whole."""
    kind = overridden_layer(module)
    cls = type_before_parametrizations(module)
    return (
        f"its class {cls.__name__} subclasses nn.{kind.__name__} but overrides how it computes (its own "
        "forward), so prune() cannot know how its rows and inputs are used"
    )


def keep_of(mask: torch.Tensor) -> torch.Tensor:
    """The bool "row is kept" vector of ``mask`` (bool, or any dtype where non-zero means kept)."""
    return mask if mask.dtype == torch.bool else mask != 0


def row_mask_parametrization(module: nn.Module, tensor_name: str) -> nn.Module | None:
    """The parametrization of ``module.<tensor_name>`` holding a 1-D row ``mask``, if any."""
    if not parametrize.is_parametrized(module, tensor_name):
        return None
    for parametrization in module.parametrizations[tensor_name]:
        mask = getattr(parametrization, "mask", None)
        if isinstance(mask, torch.Tensor) and mask.dim() == 1:
            return parametrization
    return None


def row_keep(module: nn.Module, tensor_name: str) -> torch.Tensor | None:
    """The kept-rows vector of ``module.<tensor_name>``, or None when that tensor is not masked."""
    parametrization = row_mask_parametrization(module, tensor_name)
    return None if parametrization is None else keep_of(parametrization.mask)


def masked_tensor_names(module: nn.Module) -> list[str]:
    """Names of the tensors of ``module`` that carry a row mask."""
    if not parametrize.is_parametrized(module):
        return []
    return [name for name in module.parametrizations if row_mask_parametrization(module, name) is not None]


def check_structured_tensor(module: nn.Module, tensor_name: str, tensor_fqn: str) -> None:
    """Reject a config entry naming a tensor that structured pruning cannot mask row-wise."""
    module_type = layer_type(module)
    if overridden_layer(module) is not None:
        raise ValueError(f"tensor_fqn {tensor_fqn!r} cannot be row-masked: {overriding_reason(module)}")
    if module_type not in STRUCTURED_MODULES:
        supported = sorted(t.__name__ for t in STRUCTURED_MODULES)
        raise ValueError(
            f"tensor_fqn {tensor_fqn!r} belongs to a {module_type.__name__}; structured pruning "
            f"supports only {supported} and their subclasses that keep their forward"
        )
    if module_type is nn.LSTM:
        if not LSTM_WEIGHT.fullmatch(tensor_name):
            raise ValueError(
                f"tensor_fqn {tensor_fqn!r} names LSTM tensor {tensor_name!r}; only the gate weights "
                "weight_ih_l<k>, weight_hh_l<k> and the projection weight_hr_l<k> can be row-masked"
            )
    elif tensor_name != "weight":
        raise ValueError(
            f"tensor_fqn {tensor_fqn!r} names {module_type.__name__}.{tensor_name}; structured "
            "pruning masks only the rows of its 'weight'"
        )
    tensor = getattr(module, tensor_name)
    if tensor.dim() < 2:
        raise ValueError(
            f"tensor_fqn {tensor_fqn!r} has shape {tuple(tensor.shape)}; structured pruning needs a "
            "tensor with at least 2 dims (rows x something)"
        )


def default_structured_config(model: nn.Module) -> list[dict[str, str]]:
    """One config entry per prunable tensor: every Linear/Conv2d weight and every LSTM gate weight.

    LSTMs get ``weight_ih_l<k>`` and ``weight_hh_l<k>`` per layer (as torch's tests configure them);
    matching is on the exact type, as torch's: a subclass is pruned when the config names it (as its
    parent when it computes as its parent, see ``layer_type``), never behind its author's back
    (``nn.MultiheadAttention``'s ``out_proj`` is a Linear subclass that attention calls functionally).
    """
    config: list[dict[str, str]] = []
    for fqn, module in model.named_modules():
        prefix = f"{fqn}." if fqn else ""
        module_type = type_before_parametrizations(module)
        if module_type in (nn.Linear, nn.Conv2d):
            config.append({"tensor_fqn": f"{prefix}weight"})
        elif module_type is nn.LSTM:
            suffixes = ("", "_reverse") if module.bidirectional else ("",)
            for layer in range(module.num_layers):
                for kind in ("ih", "hh"):
                    config += [{"tensor_fqn": f"{prefix}weight_{kind}_l{layer}{s}"} for s in suffixes]
    return config
