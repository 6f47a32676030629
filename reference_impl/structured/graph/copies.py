"""Deep copies of a prepared model that are safe to strip: for capture and for the check on a copy.

A deep copy of a parametrized module shares its parametrized *class* with the original, so
``remove_parametrizations`` on the copy deletes the original's ``weight`` property too. Copies here
are stripped by swapping each parametrized module for a plain instance of its own class instead.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils import parametrize

from ..bias import BiasHook, restore_bias
from .masking import release_channel_hooks


def _plain(module: nn.Module, masked_values: bool) -> nn.Module:
    """``module`` as an instance of its own class, each parametrized tensor its original or masked value."""
    cls = parametrize.type_before_parametrizations(module)
    plain = cls.__new__(cls)
    plain.__dict__.update(module.__dict__)
    plain._modules = {k: v for k, v in module._modules.items() if k != "parametrizations"}
    plain._parameters = dict(module._parameters)
    for name, parametrizations in module.parametrizations.items():
        original = parametrizations.original
        if masked_values:
            original = nn.Parameter(getattr(module, name).detach().clone(), requires_grad=original.requires_grad)
        plain._parameters[name] = original
    return plain


def plain_copy(model: nn.Module, masked_values: bool) -> nn.Module:
    """A deep copy of a prepared model with no parametrization, bias hook or channel hook left.

    ``masked_values=False``: the weights as they were before masking (for capturing the structure);
    ``True``: the masked model's weights, biases and BatchNorm channels baked in (it computes what the
    masked model computes).
    """
    clean = copy.deepcopy(model)
    if masked_values:
        release_channel_hooks(clean)
    for module in clean.modules():  # biases first: a swapped module would no longer be visited
        if masked_values:
            restore_bias(module)
        else:
            _unbias(module)
    for module in list(clean.modules()):
        for name, child in list(module._modules.items()):
            if child is not None and parametrize.is_parametrized(child):
                module._modules[name] = _plain(child, masked_values)
    return _plain(clean, masked_values) if parametrize.is_parametrized(clean) else clean


def _unbias(module: nn.Module) -> None:
    """Put a moved-aside bias back unmasked and drop its hook (the structure, not the masked values)."""
    if "_bias" in module._parameters:
        module.bias = module._parameters.pop("_bias")
    for key, hook in list(module._forward_hooks.items()):
        if isinstance(hook, BiasHook) or getattr(hook, "prunebench_channel_mask", False):
            module._forward_hooks.pop(key)
