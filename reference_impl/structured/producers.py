"""The starting point of each chain: which channels a masked module loses and what they output.

A masked Linear/Conv2d row outputs its effective bias (zero with ``prune_bias=True``), the same
constant at every position. A removable LSTM unit outputs exactly zero (see ``lstm``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import torch
from torch import nn
from torch.fx import Node

from .bias import effective_bias
from .chains import Layout, Producer, UnsupportedChainError
from .lstm import lstm_units
from .masks import layer_type, row_keep
from .ops import describe
from .signals import Signal


def _linear_or_conv(name: str, module: nn.Module, node: Node) -> Producer | None:
    keep = row_keep(module, "weight")
    if keep is None or bool(keep.all()):
        return None
    module_type = layer_type(module)
    if module_type is nn.Conv2d and module.groups != 1:
        raise UnsupportedChainError(
            f"prune() cannot remove filters of {name!r}: it is a grouped convolution (groups="
            f"{module.groups}), whose filters must stay evenly split; the model has not been modified"
        )
    removed = (~keep).nonzero().squeeze(1)
    with torch.no_grad():
        bias = effective_bias(module)
        if bias is None:
            values = torch.zeros(removed.numel(), dtype=module.weight.dtype, device=keep.device)
        else:
            values = bias.detach()[removed].clone()
    layout = Layout.CHANNELS_LAST if module_type is nn.Linear else Layout.CHANNELS_FIRST
    return Producer(name, module, node, keep.clone(), Signal.constant(values), layout)


def _check_lstm_call(name: str, module: nn.LSTM, node: Node, modules: Mapping[str, nn.Module]) -> None:
    if module.bidirectional:
        raise UnsupportedChainError(
            f"prune() cannot remove hidden units of {name!r}: bidirectional LSTMs are not supported; "
            "the model has not been modified"
        )
    hx = node.args[1] if len(node.args) > 1 else node.kwargs.get("hx")
    if hx is not None:
        raise UnsupportedChainError(
            f"prune() cannot remove hidden units of {name!r}: fx node {describe(node, modules)} passes an "
            "initial state (hx), whose masked units would not stay zero; the model has not been modified"
        )


def _lstm(name: str, module: nn.LSTM, node: Node, modules: Mapping[str, nn.Module]) -> Producer | None:
    _check_lstm_call(name, module, node, modules)
    units = lstm_units(module)
    for layer, count in enumerate(units.masked_but_kept):
        if count:
            warnings.warn(
                f"prune(): {count} masked hidden unit(s) of {name!r} layer {layer} are kept: their "
                "cell-input (g) gate rows are not masked in both weight_ih and weight_hh, or their g "
                "biases are not masked (prune_bias=False), so they still produce output",
                stacklevel=4,
            )
    width = module.proj_size or module.hidden_size
    if len(units.hidden[0]) == module.hidden_size and len(units.output[0]) == width:
        return None
    keep = units.output_keep()
    values = torch.zeros(int((~keep).sum()), dtype=module.weight_hh_l0.dtype, device=keep.device)
    return Producer(name, module, node, keep, Signal.constant(values), Layout.LSTM_RESULT, units)


def producer_for(name: str, module: nn.Module, node: Node, modules: Mapping) -> Producer | None:
    """The ``Producer`` for a masked module called at ``node``, or None when it loses nothing."""
    if layer_type(module) is nn.LSTM:
        return _lstm(name, module, node, modules)
    return _linear_or_conv(name, module, node)
