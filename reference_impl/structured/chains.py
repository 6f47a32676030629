"""Following a pruned layer's output through the fx graph to every place that must shrink with it.

Instead of matching every node against a table of patterns (torch tries ~430 per node), ``walk``
starts at the pruned module's node and follows its users: per-channel ops carry the channels on
(and transform what the masked channels hold, see ``signals``), a Linear/Conv2d/LSTM consuming
them ends the path, and anything else is an ``UnsupportedChainError`` raised before the model is
touched. The cost is linear in the size of the chain.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.fx import Node

from .lstm import LstmUnits
from .masks import layer_type, overridden_layer, overriding_reason
from .ops import Op, OpKind, classify, describe, unsupported_reason
from .signals import Signal

FOLLOWED = (
    "activations (modules, F.* and torch.* functions, tensor methods), dropout, max/avg/adaptive pools, "
    "flatten, BatchNorm2d, PReLU, LayerNorm and the LSTM output tuple"
)


class UnsupportedChainError(NotImplementedError, ValueError):
    """A pruned layer's output reaches an op ``prune()`` cannot shrink; nothing has been modified."""


class WholeLayerError(UnsupportedChainError):
    """A pruned layer's output reaches a layer that is left whole (a subclass with its own forward): the
    pruned layer is left whole too, its masked rows zeroed (``prune_traced``)."""


class Layout(enum.Enum):
    """Where the channels are in the tensor a node produces."""

    CHANNELS_FIRST = "channels_first"  # Conv2d output: (N, C, H, W)
    CHANNELS_LAST = "channels_last"  # Linear / LSTM output: (..., C)
    FLATTENED = "flattened"  # conv channels flattened with their positions: (N, C * H * W)
    LSTM_RESULT = "lstm_result"  # the (output, (h_n, c_n)) tuple of an LSTM
    LSTM_STATE = "lstm_state"  # (h_n, c_n) or one of them


@dataclass
class Producer:
    """A module losing output channels: which it keeps, and what its masked channels output."""

    name: str
    module: nn.Module
    node: Node
    keep: torch.Tensor  # bool per output channel
    signal: Signal  # over the channels ``keep`` removes, in index order
    layout: Layout
    lstm_units: LstmUnits | None = None

    @property
    def channels(self) -> int:
        return self.keep.numel()

    @property
    def removed(self) -> torch.Tensor:
        return (~self.keep).nonzero().squeeze(1)


@dataclass
class ConsumerUse:
    """A module taking the producer's channels as input: it loses the matching input columns."""

    node: Node
    module: nn.Module
    signal: Signal
    block: int = 1  # input columns per channel (h * w after a flatten)


@dataclass
class Chain:
    """Everything that changes when ``producer`` loses channels."""

    producer: Producer
    consumers: list[ConsumerUse] = field(default_factory=list)
    channel_modules: list[tuple[Node, nn.Module]] = field(default_factory=list)  # BN, PReLU, LayerNorm
    reaches_output: bool = False


def _unsupported(producer: Producer, node: Node, modules: Mapping, why: str = "") -> UnsupportedChainError:
    reason = f": {why}" if why else ""
    return UnsupportedChainError(
        f"prune() cannot remove channels of {producer.name!r}: its output reaches fx node "
        f"{describe(node, modules)}{reason}. Between a pruned layer and the next one prune() follows "
        f"{FOLLOWED}; the model has not been modified"
    )


def _leaves_last_dim(index: object) -> bool:
    """Whether indexing with ``index`` keeps the last dim whole (``out[-1]``, ``out[:, -1, :]``)."""
    if isinstance(index, (int, slice)):
        return True
    if not isinstance(index, tuple) or not index:
        return False
    return index[-1] == slice(None) and all(isinstance(i, (int, slice)) for i in index)


def _consumer(chain: Chain, node: Node, signal: Signal, layout: Layout, modules: Mapping) -> str | None:
    """Record ``node`` as a consumer, or say why it cannot take these channels."""
    module, channels = modules[node.target], chain.producer.channels
    module_type = layer_type(module)
    if module_type is nn.Linear and layout in (Layout.CHANNELS_LAST, Layout.FLATTENED):
        if module.in_features % channels:
            return f"in_features={module.in_features} is not a multiple of the {channels} channels"
        block = module.in_features // channels
        if layout is Layout.CHANNELS_LAST and block != 1:
            return f"in_features={module.in_features}, but the pruned layer has {channels} channels"
        chain.consumers.append(ConsumerUse(node, module, signal, block))
        return None
    if module_type is nn.Conv2d and layout is Layout.CHANNELS_FIRST:
        if module.groups != 1:
            return f"grouped convolution (groups={module.groups}) as the next layer"
        if module.in_channels != channels:
            return f"in_channels={module.in_channels}, but the pruned layer has {channels} channels"
        chain.consumers.append(ConsumerUse(node, module, signal))
        return None
    if module_type is nn.LSTM and layout is Layout.CHANNELS_LAST:
        if module.input_size != channels:
            return f"input_size={module.input_size}, but the pruned layer has {channels} channels"
        chain.consumers.append(ConsumerUse(node, module, signal))
        return None
    if module_type is nn.Linear and layout is Layout.CHANNELS_FIRST:
        return "a Linear acts on the last dim, not on a convolution's channels; flatten from dim 1 first"
    return f"a {module_type.__name__} cannot take the channels of a {layout.value} output"


def _channel_module(chain: Chain, node: Node, op: Op, signal: Signal, layout: Layout) -> Signal | str:
    """Record a per-channel module (pruned along) and return the signal after it, or say why not."""
    module, channels, removed = op.module, chain.producer.channels, chain.producer.removed
    if op.kind is OpKind.LAYER_NORM:
        if layout is not Layout.CHANNELS_LAST or tuple(module.normalized_shape) != (channels,):
            shape = tuple(module.normalized_shape)
            return f"LayerNorm{shape} does not normalize over the {channels} channels"
        chain.channel_modules.append((node, module))
        return signal.dropped()
    if layout is not Layout.CHANNELS_FIRST:
        return f"a per-channel {type(module).__name__} after a {layout.value} layer"
    if op.kind is OpKind.PRELU:
        if module.num_parameters != channels:
            return f"PReLU has {module.num_parameters} slopes for {channels} channels"
        chain.channel_modules.append((node, module))
        slope = module.weight.detach()[removed]
        return signal.through_elementwise(lambda v: torch.where(v >= 0, v, slope * v), homogeneous=True)
    if module.num_features != channels:
        return f"BatchNorm2d has {module.num_features} features for {channels} channels"
    chain.channel_modules.append((node, module))
    with torch.no_grad():
        pick = [None if t is None else t.detach()[removed] for t in (module.running_mean, module.running_var)]
        affine = [None if t is None else t.detach()[removed] for t in (module.weight, module.bias)]
    batch_stats = module.training or module.running_mean is None
    return signal.through_batch_norm(batch_stats, *pick, *affine, module.eps)


Step = tuple[Signal, Layout] | str | None
"""What following one node gives: the (signal, layout) to go on with, None to stop, or why it fails."""


def _step(chain: Chain, op: Op, signal: Signal, layout: Layout) -> Step:
    """Apply the channel-preserving ``op`` (not a consumer or per-channel module)."""
    if op.kind is OpKind.OUTPUT:
        chain.reaches_output = True
        return None
    if layout is Layout.LSTM_RESULT:
        if op.kind is OpKind.GETITEM and op.index in (0, 1):
            return signal, Layout.CHANNELS_LAST if op.index == 0 else Layout.LSTM_STATE
        return "only out, (h, c) = lstm(x) unpacking is supported"
    if layout is Layout.LSTM_STATE:
        if op.kind is OpKind.GETITEM and op.index in (0, 1):
            return signal, layout
        return "the LSTM's final state (h_n, c_n) may only be returned from the model"
    if op.kind is OpKind.ELEMENTWISE:
        return signal.through_elementwise(op.fn, op.homogeneous), layout
    if op.kind is OpKind.IDENTITY:
        return signal, layout
    if op.kind is OpKind.SIZE:
        return None
    if op.kind is OpKind.GETITEM:  # only on LSTM outputs, which have >= 2 dims: out[-1], out[:, -1, :]
        ok = chain.producer.lstm_units is not None and layout is Layout.CHANNELS_LAST
        return (signal, layout) if ok and _leaves_last_dim(op.index) else f"indexing with {op.index!r}"
    if layout is not Layout.CHANNELS_FIRST:
        return f"{op.kind.value} after a {layout.value} layer"
    if op.kind is OpKind.POOL:
        return signal.through_pool(op.is_average, op.preserves_uniform), layout
    if op.kind is OpKind.FLATTEN:
        return signal, Layout.FLATTENED
    return f"unexpected {op.kind.value}"


def walk(producer: Producer, modules: Mapping[str, nn.Module]) -> Chain:
    """Every consumer, per-channel module and output reached from ``producer``'s node."""
    chain = Chain(producer)
    pending = [(user, producer.node, producer.signal, producer.layout) for user in producer.node.users]
    while pending:
        node, source, signal, layout = pending.pop()
        op = classify(node, source, modules)
        if op is None and node.op == "call_module" and overridden_layer(modules[node.target]) is not None:
            raise WholeLayerError(
                f"its output reaches {node.target!r}, which is left whole: {overriding_reason(modules[node.target])}"
            )
        if op is None:
            raise _unsupported(producer, node, modules, unsupported_reason(node, source))
        if op.kind is OpKind.CONSUMER:
            result = _consumer(chain, node, signal, layout, modules)
        elif op.kind in (OpKind.BATCH_NORM, OpKind.PRELU, OpKind.LAYER_NORM):
            after = _channel_module(chain, node, op, signal, layout)
            result = after if isinstance(after, str) else (after, layout)
        else:
            result = _step(chain, op, signal, layout)
        if isinstance(result, str):
            raise _unsupported(producer, node, modules, result)
        if result is not None:
            pending += [(user, node, *result) for user in node.users]
    return chain
