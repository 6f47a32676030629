"""Deep copies of a prepared model that are safe to strip: to capture a model that carries masks or hooks.

A deep copy of a parametrized module shares its parametrized *class* with the original, so
``remove_parametrizations`` on the copy deletes the original's ``weight`` property too. Copies here
are stripped by swapping each parametrized module for a plain instance of its own class instead.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils import parametrize

from ..bias import BiasHook


def _plain(module: nn.Module) -> nn.Module:
    """``module`` as an instance of its own class, each parametrized tensor its original."""
    cls = parametrize.type_before_parametrizations(module)
    plain = cls.__new__(cls)
    plain.__dict__.update(module.__dict__)
    plain._modules = {k: v for k, v in module._modules.items() if k != "parametrizations"}
    plain._parameters = dict(module._parameters)
    for name, parametrizations in module.parametrizations.items():
        plain._parameters[name] = parametrizations.original
    return plain


def plain_copy(model: nn.Module) -> nn.Module:
    """A deep copy of a prepared model with no parametrization, bias hook or channel hook left: the weights
    as they were before masking (to capture the structure)."""
    clean = copy.deepcopy(model)
    for module in clean.modules():  # biases first: a swapped module would no longer be visited
        _unbias(module)
    for module in list(clean.modules()):
        for name, child in list(module._modules.items()):
            if child is not None and parametrize.is_parametrized(child):
                module._modules[name] = _plain(child)
    return _plain(clean) if parametrize.is_parametrized(clean) else clean


def _unbias(module: nn.Module) -> None:
    """Put a moved-aside bias back unmasked and drop its hook (the structure, not the masked values)."""
    if "_bias" in module._parameters:
        module.bias = module._parameters.pop("_bias")
    for key, hook in list(module._forward_hooks.items()):
        if isinstance(hook, BiasHook) or getattr(hook, "prunebench_channel_mask", False):
            module._forward_hooks.pop(key)
