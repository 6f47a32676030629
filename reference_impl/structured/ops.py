"""Which fx nodes may stand between a pruned layer and the layer that consumes its channels.

``classify(node, source, modules)`` names what ``node`` does to the channels it receives from
``source``, or returns None when ``prune()`` cannot follow channels through it. Activations are
recognised as modules (``nn.ReLU``), functions (``F.relu``, ``torch.relu``) and tensor methods
(``x.relu()``); only ops that act on each channel separately are listed.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx import Node
from torch.nn.utils.parametrize import type_before_parametrizations

from .masks import layer_type

ACTIVATION_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.RReLU, nn.Hardtanh, nn.ReLU6, nn.Sigmoid, nn.Hardsigmoid, nn.Tanh, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.Hardshrink, nn.Softshrink, nn.LeakyReLU,
    nn.LogSigmoid, nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Threshold,
)  # fmt: skip
ACTIVATION_FUNCTIONS: frozenset[Callable] = frozenset({
    F.relu, F.relu_, F.rrelu, F.hardtanh, F.relu6, F.sigmoid, F.hardsigmoid, F.tanh, F.silu, F.mish,
    F.hardswish, F.elu, F.celu, F.selu, F.gelu, F.hardshrink, F.softshrink, F.leaky_relu, F.logsigmoid,
    F.softplus, F.softsign, F.tanhshrink, F.threshold,
    torch.relu, torch.relu_, torch.sigmoid, torch.tanh, torch.selu, torch.celu, torch.rrelu,
})  # fmt: skip
ACTIVATION_METHODS: frozenset[str] = frozenset({"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_"})

# Positively homogeneous activations: f(c * p) = f(c) * p for p >= 0, so a scaled pattern stays one.
HOMOGENEOUS_MODULES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.PReLU)
HOMOGENEOUS_FUNCTIONS: frozenset[Callable] = frozenset({
    F.relu, F.relu_, F.leaky_relu, torch.relu, torch.relu_,
})  # fmt: skip
HOMOGENEOUS_METHODS: frozenset[str] = frozenset({"relu", "relu_"})

# Identity in eval mode; in training mode the masked model is random anyway, and zeros stay zero.
IDENTITY_MODULES: tuple[type[nn.Module], ...] = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d)
IDENTITY_FUNCTIONS: frozenset[Callable] = frozenset({F.dropout, F.dropout1d, F.dropout2d})

CONSUMER_MODULES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d, nn.LSTM)

_AVG_POOL2D_ARGS = (
    "input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override",
)  # fmt: skip
_MAX_POOL2D_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_ADAPTIVE_POOL_ARGS = ("input", "output_size", "return_indices")
_FLATTEN_ARGS = ("input", "start_dim", "end_dim")


class OpKind(enum.Enum):
    ELEMENTWISE = "elementwise"  # activation
    IDENTITY = "identity"  # dropout, nn.Identity
    POOL = "pool"
    FLATTEN = "flatten"  # (N, C, H, W) -> (N, C*H*W)
    BATCH_NORM = "batch_norm"  # per-channel module: pruned with the layer
    PRELU = "prelu"  # PReLU with one slope per channel: pruned with the layer
    LAYER_NORM = "layer_norm"  # normalizes over the channels: pruned with the layer
    SIZE = "size"  # x.size(0): reads the batch size, untouched by pruning
    GETITEM = "getitem"  # indexing of a tuple or of leading dims
    CONSUMER = "consumer"  # Linear / Conv2d / LSTM taking the channels as input
    OUTPUT = "output"


@dataclass(frozen=True)
class Op:
    """What a node does to the channels flowing in; ``fn`` evaluates an activation on a value vector."""

    kind: OpKind
    module: nn.Module | None = None
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    homogeneous: bool = False
    is_average: bool = False
    preserves_uniform: bool = True
    index: Any = None


def describe(node: Node, modules: Mapping[str, nn.Module]) -> str:
    """``relu_1 (call_function relu)``-style text naming an fx node for error messages."""
    if node.op == "call_module":
        module_type = type_before_parametrizations(modules[node.target]).__name__
        return f"{node.name!r} (call_module {node.target!r}: {module_type})"
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", node.target)
    return f"{node.name!r} ({node.op} {target})"


def arguments(node: Node, names: Sequence[str]) -> dict[str, Any]:
    """The node's positional and keyword arguments by parameter name."""
    bound = dict(zip(names[: len(node.args)], node.args, strict=True))
    bound.update(node.kwargs)
    return bound


def _is_zero(padding: Any) -> bool:
    if isinstance(padding, int):
        return padding == 0
    return all(p == 0 for p in padding)


def _only_input(node: Node, source: Node) -> bool:
    """``source`` is the node's first argument and its only Node input."""
    return bool(node.args) and node.args[0] is source and node.all_input_nodes == [source]


def _elementwise(fn: Callable[[torch.Tensor], torch.Tensor], homogeneous: bool) -> Op:
    return Op(OpKind.ELEMENTWISE, fn=fn, homogeneous=homogeneous)


def _avg_pool(padding: Any, count_include_pad: bool, divisor_override: Any) -> Op:
    uniform = (_is_zero(padding) or not count_include_pad) and divisor_override is None
    return Op(OpKind.POOL, is_average=True, preserves_uniform=uniform)


def _classify_module(module: nn.Module) -> Op | None:
    module_type = layer_type(module)
    if module_type is nn.PReLU:
        if module.num_parameters == 1:
            return _elementwise(module.forward, homogeneous=True)
        return Op(OpKind.PRELU, module=module)
    if module_type in ACTIVATION_MODULES:
        return _elementwise(module.forward, homogeneous=module_type in HOMOGENEOUS_MODULES)
    if module_type in IDENTITY_MODULES:
        return Op(OpKind.IDENTITY)
    if module_type in (nn.MaxPool2d, nn.AdaptiveMaxPool2d):
        return None if module.return_indices else Op(OpKind.POOL)
    if module_type is nn.AvgPool2d:
        return _avg_pool(module.padding, module.count_include_pad, module.divisor_override)
    if module_type is nn.AdaptiveAvgPool2d:
        return Op(OpKind.POOL, is_average=True)
    if module_type is nn.Flatten:
        return Op(OpKind.FLATTEN) if (module.start_dim, module.end_dim) == (1, -1) else None
    if module_type is nn.BatchNorm2d:
        return Op(OpKind.BATCH_NORM, module=module)
    if module_type is nn.LayerNorm:
        return Op(OpKind.LAYER_NORM, module=module)
    if module_type in CONSUMER_MODULES:
        return Op(OpKind.CONSUMER, module=module)
    return None


def _flatten(node: Node) -> Op | None:
    """``torch.flatten(x, 1)`` / ``x.flatten(1)``: channels and positions into one dim, batch kept."""
    bound = arguments(node, _FLATTEN_ARGS)
    dims = (bound.get("start_dim", 0), bound.get("end_dim", -1))
    return Op(OpKind.FLATTEN) if dims == (1, -1) else None


def _classify_function(node: Node) -> Op | None:
    target, extra = node.target, node.args[1:]
    if target in ACTIVATION_FUNCTIONS:
        homogeneous = target in HOMOGENEOUS_FUNCTIONS
        return _elementwise(lambda values: target(values, *extra, **node.kwargs), homogeneous)
    if target in IDENTITY_FUNCTIONS:
        return Op(OpKind.IDENTITY)
    if target is F.max_pool2d:
        return None if arguments(node, _MAX_POOL2D_ARGS).get("return_indices") else Op(OpKind.POOL)
    if target is F.adaptive_max_pool2d:
        return None if arguments(node, _ADAPTIVE_POOL_ARGS).get("return_indices") else Op(OpKind.POOL)
    if target is F.avg_pool2d:
        bound = arguments(node, _AVG_POOL2D_ARGS)
        padding, count_pad = bound.get("padding", 0), bound.get("count_include_pad", True)
        return _avg_pool(padding, count_pad, bound.get("divisor_override"))
    if target is F.adaptive_avg_pool2d:
        return Op(OpKind.POOL, is_average=True)
    if target is torch.flatten:
        return _flatten(node)
    if target is operator.getitem:
        return Op(OpKind.GETITEM, index=node.args[1])
    return None


def _classify_method(node: Node, source: Node) -> Op | None:
    name, extra = node.target, node.args[1:]
    if name in ACTIVATION_METHODS:
        method = lambda values: getattr(values, name)(*extra, **node.kwargs)  # noqa: E731
        return _elementwise(method, name in HOMOGENEOUS_METHODS)
    if name == "flatten":
        return _flatten(node)
    if name == "size" and extra in ((0,),) and not node.kwargs:
        return Op(OpKind.SIZE)
    if name in ("view", "reshape") and _is_batch_flatten(node, source):
        return Op(OpKind.FLATTEN)
    return None


def _is_batch_flatten(node: Node, source: Node) -> bool:
    """``x.view(x.size(0), -1)`` (or ``reshape``): a flatten from dim 1."""
    if len(node.args) != 3 or node.kwargs or node.args[2] != -1:
        return False
    batch = node.args[1]
    is_size = isinstance(batch, Node) and batch.op == "call_method" and batch.target == "size"
    return is_size and batch.args == (source, 0)


def unsupported_reason(node: Node, source: Node) -> str:
    """Why ``classify`` rejected ``node``, when something more specific than "unknown op" is known."""
    if len(node.all_input_nodes) > 1 or not node.args or node.args[0] is not source:
        return "it combines the pruned channels with other tensors (a residual add, a concat, ...)"
    target = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
    if "flatten" in str(target):
        return "only flattening from dim 1 to the last dim is supported"
    if "pool" in str(target):
        return "pooling that returns indices is not supported"
    return ""


def classify(node: Node, source: Node, modules: Mapping[str, nn.Module]) -> Op | None:
    """What ``node`` does to the channels of ``source`` (one of its inputs); None if unsupported."""
    if node.op == "output":
        return Op(OpKind.OUTPUT)
    if node.op == "call_method" and node.target in ("view", "reshape"):
        return _classify_method(node, source) if node.args and node.args[0] is source else None
    if not _only_input(node, source):
        return None
    if node.op == "call_module":
        return _classify_module(modules[node.target])
    if node.op == "call_function":
        return _classify_function(node)
    if node.op == "call_method":
        return _classify_method(node, source)
    return None
