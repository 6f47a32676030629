"""Physically shrinking modules once every plan is known: the only part of ``prune()`` that mutates.

The order matters and is fixed by ``apply_plans``: masks are baked first (so every weight is the
plain masked tensor the masked model used, in the rows that stay), then producers and per-channel
modules lose their channels, then consumers fold or merge and lose input columns. Consumer columns
and producer rows are different dims, so a module that is both is handled correctly in either role;
rows go first because a row gather is a contiguous copy, and the strided column gather then reads
only the rows that remain. A fold's bias delta
and a carrier's merged slice are computed over the rows the consumer kept, which is all they feed.
Declared sizes (``in_features``, ``out_channels``, ``num_features``, ...) are updated with the tensors.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..fake_sparsity import FakeStructuredSparsity, bake_mask
from .bias import restore_bias
from .lstm import rewrite_lstm
from .masks import layer_type
from .planning import Action, ConsumerPlan, Plan


def bake(module: nn.Module, rows_kept: torch.Tensor | None = None) -> None:
    """Turn a masked module into a plain one computing the same: masked weights and biases, no hooks.

    Each tensor is baked by ``bake_mask``: a lone row mask zeroes its rows in place on the original
    tensor, the same result as ``leave_parametrized=True`` without materializing a masked copy of
    every weight. ``rows_kept`` (the producer's final selection) limits the weight's zeroing to the
    masked rows that survive; the rest are dropped right after.
    """
    restore_bias(module)
    for name in list(getattr(module, "parametrizations", {})):
        stack = module.parametrizations[name]
        lone_row_mask = len(stack) == 1 and type(stack[0]) is FakeStructuredSparsity
        bake_mask(module, name, rows_kept if name == "weight" and lone_row_mask else None)


def _set_param(module: nn.Module, name: str, tensor: torch.Tensor) -> None:
    old = getattr(module, name)
    setattr(module, name, nn.Parameter(tensor.contiguous(), requires_grad=old.requires_grad))


def _select(module: nn.Module, names: Iterable[str], dim: int, index: torch.Tensor) -> None:
    """Keep ``index`` along ``dim`` of each named parameter or buffer (None entries are skipped)."""
    for name in names:
        tensor = getattr(module, name)
        if tensor is None:
            continue
        selected = tensor.detach().index_select(dim, index)
        if name in module._buffers:
            module._buffers[name] = selected
        else:
            _set_param(module, name, selected)


def _add_bias(module: nn.Module, name: str, delta: torch.Tensor) -> None:
    bias = getattr(module, name)
    with torch.no_grad():
        if bias is None:
            setattr(module, name, nn.Parameter(delta.to(module.weight.dtype)))
        else:
            bias.add_(delta.to(bias.dtype))


def _columns(channels: torch.Tensor, block: int) -> torch.Tensor:
    """Input columns of ``channels`` when each channel spans ``block`` consecutive columns."""
    if block == 1:
        return channels
    offsets = torch.arange(block, device=channels.device)
    return (channels[:, None] * block + offsets[None, :]).reshape(-1)


def _per_channel(weight: torch.Tensor, channels: torch.Tensor, block: int) -> torch.Tensor:
    """``weight``'s input slices for ``channels`` as (out, channels, rest...), in a float32-or-wider dtype."""
    sliced = weight.detach().index_select(1, _columns(channels, block))
    sliced = sliced.to(torch.promote_types(weight.dtype, torch.float32))
    if block > 1:
        sliced = sliced.reshape(weight.shape[0], channels.numel(), block)
    return sliced


def _fold_and_merge(
    weight: torch.Tensor, consumer: ConsumerPlan, block: int
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The bias delta (FOLD) and the weight with the carrier's slice merged (CARRIER), before dropping."""
    weight = weight.detach()
    if not consumer.drop.numel() or consumer.action not in (Action.FOLD, Action.CARRIER):
        return None, weight
    sliced = _per_channel(weight, consumer.drop, block)  # (out, dropped, rest...)
    if consumer.action is Action.FOLD:
        summed = sliced.flatten(2).sum(2) if sliced.dim() > 2 else sliced  # (out, dropped)
        return summed @ consumer.fold.to(summed.dtype), weight
    ratios = consumer.ratios.to(sliced.dtype).reshape((1, -1) + (1,) * (sliced.dim() - 2))
    merged = (sliced * ratios).sum(1)
    columns = _columns(torch.tensor([consumer.carrier], device=weight.device), block)
    weight = weight.clone()
    weight[:, columns] += merged.reshape(weight[:, columns].shape).to(weight.dtype)
    return None, weight


def shrink_consumer(consumer: ConsumerPlan, keep_index: torch.Tensor) -> None:
    """Fold/merge what the dropped channels carried into ``consumer``, then drop their input columns."""
    module, block = consumer.use.module, consumer.use.block
    module_type = layer_type(module)
    if module_type is nn.LSTM:
        suffixes = ("", "_reverse") if module.bidirectional else ("",)
        for suffix in suffixes:
            weight_name = f"weight_ih_l0{suffix}"
            delta, weight = _fold_and_merge(getattr(module, weight_name), consumer, 1)
            if delta is not None:
                _add_bias(module, f"bias_ih_l0{suffix}", delta)
            _set_param(module, weight_name, weight.index_select(1, keep_index))
        module.input_size = keep_index.numel()
        return
    delta, weight = _fold_and_merge(module.weight, consumer, block)
    if delta is not None:
        _add_bias(module, "bias", delta)
    _set_param(module, "weight", weight.index_select(1, _columns(keep_index, block)))
    if module_type is nn.Linear:
        module.in_features = module.weight.shape[1]
    else:
        module.in_channels = module.weight.shape[1]


def shrink_channel_module(module: nn.Module, keep_index: torch.Tensor) -> None:
    """Keep ``keep_index`` of a BatchNorm2d, PReLU or LayerNorm's per-channel tensors."""
    if isinstance(module, nn.PReLU):
        _select(module, ["weight"], 0, keep_index)
        module.num_parameters = keep_index.numel()
    elif isinstance(module, nn.LayerNorm):
        _select(module, ["weight", "bias"], 0, keep_index)
        module.normalized_shape = (keep_index.numel(),)
    else:
        _select(module, ["weight", "bias", "running_mean", "running_var"], 0, keep_index)
        module.num_features = keep_index.numel()


def shrink_producer(plan: Plan, keep_index: torch.Tensor) -> None:
    """Keep only the producer's rows ``keep_index`` (``plan.keep_index``, Linear/Conv2d), or its LSTM units."""
    producer = plan.chain.producer
    module = producer.module
    if producer.lstm_units is not None:
        rewrite_lstm(module, producer.lstm_units)
        return
    _select(module, ["weight", "bias"], 0, keep_index)
    if isinstance(module, nn.Linear):
        module.out_features = keep_index.numel()
    else:
        module.out_channels = keep_index.numel()


def apply_plans(baked: Iterable[nn.Module], plans: Iterable[Plan]) -> None:
    """Bake every masked module, then shrink producers, per-channel modules and consumers, in that order."""
    plans = list(plans)
    rows_kept = {id(p.chain.producer.module): p.keep for p in plans if p.chain.producer.lstm_units is None}
    for module in baked:
        bake(module, rows_kept.get(id(module)))
    keep_indices = [plan.keep_index for plan in plans]  # one nonzero per plan, for all three passes
    for plan, keep_index in zip(plans, keep_indices, strict=True):
        shrink_producer(plan, keep_index)
    for plan, keep_index in zip(plans, keep_indices, strict=True):
        for _node, module in plan.chain.channel_modules:
            shrink_channel_module(module, keep_index)
    for plan, keep_index in zip(plans, keep_indices, strict=True):
        for consumer in plan.consumers:
            shrink_consumer(consumer, keep_index)
