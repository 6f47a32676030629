"""Deciding, per pruned layer, which channels go and how each next layer absorbs what they carried.

For each consumer of a layer's channels (see ``chains``) the masked channels are dropped when they
are exact zeros there, or their contribution is moved into what remains, whichever is exact:

* ``FOLD``: a constant channel entering a Linear, an LSTM or a convolution that does not zero-pad
  adds a constant per output row, which is added to that layer's bias.
* ``CARRIER``: a constant entering a zero-padded convolution contributes less at the borders, and a
  zero-padded average pool turns constants into a shared pattern ``c * P``; neither fits in a bias.
  All these channels are proportional to one masked channel (the largest, the carrier), so that
  channel alone is kept and the consumer's input slice for it becomes the ``c``-weighted sum of the
  dropped channels' slices. One extra channel instead of torch's "prune nothing".
* ``KEEP``: anything else that is not an exact zero (e.g. a constant after a non-homogeneous
  activation applied to a scaled pattern) keeps its channels, with a warning.

A Conv2d whose every filter is masked keeps one, as ``nn.Conv2d`` cannot run with zero filters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import torch
from torch import nn

from .chains import Chain, ConsumerUse, Layout
from .masks import layer_type
from .signals import SignalKind


class Action(enum.Enum):
    DROP = "drop"
    FOLD = "fold"
    CARRIER = "carrier"
    KEEP = "keep"


@dataclass
class ConsumerPlan:
    """How one consumer loses the producer's dropped channels."""

    use: ConsumerUse
    action: Action
    drop: torch.Tensor  # producer channel indices removed (for every consumer of the producer alike)
    fold: torch.Tensor | None = None  # FOLD: the constant each dropped channel carries here
    carrier: int | None = None  # CARRIER: the kept masked channel standing in for the dropped ones
    ratios: torch.Tensor | None = None  # CARRIER: dropped channel value / carrier value


@dataclass
class Plan:
    """The final channel selection of one producer and what every consumer does about it."""

    chain: Chain
    keep: torch.Tensor  # bool per producer channel, after adding kept masked channels
    consumers: list[ConsumerPlan] = field(default_factory=list)
    kept_for: dict[str, int] = field(default_factory=dict)  # consumer name -> masked channels kept for it

    @property
    def keep_index(self) -> torch.Tensor:
        return self.keep.nonzero().squeeze(1)


def zero_pads(conv: nn.Conv2d) -> bool:
    """Whether ``conv`` pads its input with zeros (a constant input map then varies at the borders)."""
    if conv.padding_mode != "zeros":
        return False
    if conv.padding == "valid":
        return False
    if conv.padding == "same":
        return any((k - 1) * d > 0 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))
    return any(p > 0 for p in conv.padding)


def _can_fold(use: ConsumerUse) -> bool:
    module_type = layer_type(use.module)
    if module_type is nn.LSTM:
        return bool(use.module.bias)
    return module_type is nn.Linear or not zero_pads(use.module)


def _first_action(use: ConsumerUse) -> Action:
    signal = use.signal
    if not signal.nonzero().any():
        return Action.DROP
    if signal.kind is SignalKind.UNIFORM and _can_fold(use):
        return Action.FOLD
    carriable = layer_type(use.module) is not nn.LSTM
    if signal.kind is not SignalKind.UNKNOWN and carriable and bool(torch.isfinite(signal.values).all()):
        return Action.CARRIER
    return Action.KEEP


def _pick_carrier(uses: list[ConsumerUse]) -> int | None:
    """Position (among the masked channels) of a channel non-zero at every carrier consumer."""
    score = torch.stack([use.signal.values.abs() for use in uses]).amin(0)
    position = int(score.argmax())
    return position if bool(score[position] > 0) else None


def _actions(chain: Chain) -> tuple[list[Action], int | None]:
    """Each consumer's action and the carrier's position among the masked channels (if any)."""
    actions = [_first_action(use) for use in chain.consumers]
    uses = zip(chain.consumers, actions, strict=True)
    carrier_uses = [use for use, action in uses if action is Action.CARRIER]
    if not carrier_uses:
        return actions, None
    carrier = _pick_carrier(carrier_uses)
    if carrier is None:  # no single masked channel is non-zero at every such consumer
        actions = [Action.KEEP if action is Action.CARRIER else action for action in actions]
    return actions, carrier


def plan(chain: Chain) -> Plan:
    """Choose the kept channels of ``chain.producer`` and each consumer's action."""
    removed = chain.producer.removed
    actions, carrier = _actions(chain)
    uses = list(zip(chain.consumers, actions, strict=True))
    extra = torch.zeros(removed.numel(), dtype=torch.bool, device=removed.device)  # masked but kept
    if carrier is not None:
        extra[carrier] = True
    result = Plan(chain, chain.producer.keep.clone())
    for use, action in uses:
        if action is Action.KEEP:
            needed = use.signal.nonzero()
            result.kept_for[use.node.target] = int((needed & ~extra).sum())
            extra |= needed
    is_conv = chain.producer.layout is Layout.CHANNELS_FIRST
    if is_conv and removed.numel() and not (result.keep.any() or extra.any()):
        extra[0] = True  # nn.Conv2d cannot have zero filters: keep one masked one (exact, it is kept whole)
    result.keep[removed[extra]] = True
    dropped = ~extra
    for use, action in uses:
        consumer = ConsumerPlan(use, action, removed[dropped])
        if action is Action.FOLD:
            consumer.fold = use.signal.values[dropped]
        elif action is Action.CARRIER:
            consumer.carrier = int(removed[carrier])
            consumer.ratios = use.signal.values[dropped] / use.signal.values[carrier]
        result.consumers.append(consumer)
    return result
