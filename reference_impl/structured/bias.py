"""A masked layer's bias before ``prune()``: handled so the masked model computes what the pruned one will.

Linear and Conv2d follow torch's contract: ``prepare`` moves the bias aside to ``module._bias`` (the
same Parameter object, so optimizers keep training it) and a ``BiasHook`` adds it back after the
forward. With ``prune_bias=True`` the hook zeroes the masked rows' bias, so a masked channel is an
exact zero; with ``prune_bias=False`` it adds the whole bias, and ``prune()`` later folds the masked
channels' constant output into the next layer.

LSTM biases live inside the recurrent kernel, where no hook can reach them, so with ``prune_bias=True``
``bias_ih_l<k>``/``bias_hh_l<k>`` get a ``TiedBiasMask`` parametrization that reads the mask of the
matching gate weight. Torch leaves them unmasked, which is why its masked and pruned LSTMs differ.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from .masks import LSTM_WEIGHT, keep_of, layer_type, row_mask_parametrization


def _zero_masked(mask: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return torch.where(keep_of(mask), bias, torch.zeros((), dtype=bias.dtype, device=bias.device))


class BiasHook:
    """Forward hook adding ``module._bias`` back to the output, masked when ``prune_bias`` is set.

    ``channel_dim`` is where the output's channels are: -1 for Linear (any number of leading dims,
    unlike torch's hook, which assumes dim 1), -3 for Conv2d (batched or not). The bias is never
    modified in place, so changing the mask later restores the rows it un-masks.
    """

    def __init__(self, parametrization: nn.Module, prune_bias: bool, channel_dim: int) -> None:
        self.param = parametrization
        self.prune_bias = prune_bias
        self.channel_dim = channel_dim

    def masked(self, bias: torch.Tensor) -> torch.Tensor:
        """``bias`` as the masked model adds it: masked rows zeroed if ``prune_bias``, else unchanged."""
        return _zero_masked(self.param.mask, bias) if self.prune_bias else bias

    def bias_of(self, module: nn.Module) -> torch.Tensor | None:
        """The bias the masked ``module`` adds (None when it has no ``_bias``)."""
        bias = getattr(module, "_bias", None)
        return None if bias is None else self.masked(bias)

    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        bias = self.bias_of(module)
        if bias is None:
            return output
        shape = [1] * output.dim()
        shape[self.channel_dim] = -1
        return output + bias.reshape(shape)


class TiedBiasMask(nn.Module):
    """Parametrization of an LSTM bias: zero the rows its gate weight's row mask removes.

    It reads the weight parametrization's ``mask`` at every call (held outside the module tree, so
    the mask is neither saved twice nor copied apart from its owner), so replacing or editing that
    mask is always seen.
    """

    def __init__(self, weight_parametrization: nn.Module) -> None:
        super().__init__()
        self._source = (weight_parametrization,)

    def forward(self, bias: torch.Tensor) -> torch.Tensor:
        return _zero_masked(self._source[0].mask, bias)

    def state_dict(self, *args, **kwargs):
        """The mask belongs to the weight's parametrization; nothing to save here."""
        return {}


def attach_bias_handling(module: nn.Module, tensor_name: str, prune_bias: bool) -> None:
    """Set up the masked-model bias for ``module.<tensor_name>``, whose row mask is already registered."""
    weight_parametrization = row_mask_parametrization(module, tensor_name)
    module_type = layer_type(module)
    if module_type is nn.LSTM:
        match = LSTM_WEIGHT.fullmatch(tensor_name)
        kind, layer, suffix = match.group(1), match.group(2), match.group(3) or ""
        bias_name = f"bias_{kind}_l{layer}{suffix}"
        if prune_bias and kind != "hr" and getattr(module, bias_name, None) is not None:
            parametrize.register_parametrization(module, bias_name, TiedBiasMask(weight_parametrization))
        return
    if module.bias is None:
        return
    bias = module.bias
    module.bias = None
    module.register_parameter("_bias", bias)
    channel_dim = -1 if module_type is nn.Linear else -3
    module.register_forward_hook(BiasHook(weight_parametrization, prune_bias, channel_dim))


def bias_hooks(module: nn.Module) -> dict[int, BiasHook]:
    """The ``BiasHook``s registered on ``module``, by hook id."""
    return {key: hook for key, hook in module._forward_hooks.items() if isinstance(hook, BiasHook)}


def effective_bias(module: nn.Module) -> torch.Tensor | None:
    """The bias a masked Linear/Conv2d adds in its forward, hook or not (None if it has none)."""
    hooks = bias_hooks(module)
    if hooks:
        return next(iter(hooks.values())).bias_of(module)
    return module.bias


def restore_bias(module: nn.Module) -> None:
    """Bake the masked-model bias back into ``module.bias`` and drop the hook / bias parametrizations.

    The ``_bias`` Parameter object is reused (its masked rows zeroed in place when ``prune_bias``), so
    references held by optimizers stay valid. Call this before the weight mask is removed.
    """
    if layer_type(module) is nn.LSTM:
        for name in list(getattr(module, "parametrizations", {})):
            if any(isinstance(p, TiedBiasMask) for p in module.parametrizations[name]):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        return
    hooks = bias_hooks(module)
    if "_bias" in module._parameters:
        bias = module._parameters.pop("_bias")
        if bias is not None and hooks:
            with torch.no_grad():
                bias.copy_(next(iter(hooks.values())).masked(bias))
        module.bias = bias
    for key in hooks:
        module._forward_hooks.pop(key, None)
        module._forward_hooks_with_kwargs.pop(key, None)
        module._forward_hooks_always_called.pop(key, None)
