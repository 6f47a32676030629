"""Test pruners written against the backend's base class, a chain pruned with one, and checks of a pruned model."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from prunebench.harness.backend import Backend
from torch import nn
from torch.nn.utils import parametrize

from .chains import Chain, build_chain_model
from .checks import kept, mask_of
from .pruned_model_checks import ModelRecord, flat_outputs, record_model, require_torch_kernels, snapshot_tensors


def _row_units(module: nn.Module, rows: int) -> torch.Tensor:
    """Row index -> the unit it belongs to: LSTM weights stack four gates of ``hidden_size`` rows."""
    index = torch.arange(rows)
    return index % module.hidden_size if isinstance(module, nn.LSTM) else index


def make_every_third_pruner(backend: Backend) -> type:
    """Prunes rows (LSTM: units, in all four gates alike) whose index is 1 modulo 3: a non-prefix set."""
    base = backend.get("BaseStructuredSparsifier")

    class EveryThirdPruner(base):
        def update_mask(self, module: nn.Module, tensor_name: str, **kwargs: Any) -> None:
            mask = mask_of(module, tensor_name)
            drop = (_row_units(module, mask.shape[0]) % 3 == 1).to(mask.device)
            mask[drop] = False

    return EveryThirdPruner


def make_row_one_pruner(backend: Backend) -> type:
    """Prunes row 1 of every configured tensor, as PyTorch's own structured tests do."""
    base = backend.get("BaseStructuredSparsifier")

    class RowOnePruner(base):
        def update_mask(self, module: nn.Module, tensor_name: str, **kwargs: Any) -> None:
            mask_of(module, tensor_name)[1] = False

    return RowOnePruner


def kept_output_indices(model: nn.Module, layer_fqn: str) -> torch.Tensor:
    """Indices of the output channels (LSTM: hidden units) a pruned layer keeps, read from its mask."""
    module = model.get_submodule(layer_fqn)
    if isinstance(module, nn.LSTM):
        mask = kept(mask_of(module, f"weight_ih_l{module.num_layers - 1}"))[: module.hidden_size]
    else:
        mask = kept(mask_of(module, "weight"))
    return mask.nonzero().flatten().cpu()


def leftovers(model: nn.Module) -> list[str]:
    """Everything pruning must remove: parametrizations, masks, bias hooks, moved-aside biases."""
    found = []
    for fqn, module in model.named_modules():
        name = fqn or "<root>"
        if parametrize.is_parametrized(module):
            found.append(f"{name}: parametrizations on {sorted(module.parametrizations)}")
        if module._forward_hooks or module._forward_pre_hooks:
            found.append(f"{name}: {len(module._forward_hooks) + len(module._forward_pre_hooks)} forward hook(s)")
        if "_bias" in module._parameters or "mask" in module._buffers:
            found.append(f"{name}: leftover '_bias' parameter or 'mask' buffer")
    return found


def _linear_sizes(module: nn.Linear) -> list[tuple[str, object, object]]:
    rows = [("weight.shape", tuple(module.weight.shape), (module.out_features, module.in_features))]
    if module.bias is not None:
        rows.append(("bias.shape", tuple(module.bias.shape), (module.out_features,)))
    return rows


def _conv_sizes(module: nn.Conv2d) -> list[tuple[str, object, object]]:
    declared = (module.out_channels, module.in_channels // module.groups)
    rows = [("weight.shape[:2]", tuple(module.weight.shape[:2]), declared)]
    if module.bias is not None:
        rows.append(("bias.shape", tuple(module.bias.shape), (module.out_channels,)))
    return rows


def _norm_sizes(module: nn.Module) -> list[tuple[str, object, object]]:
    if isinstance(module, nn.LayerNorm):
        return [("weight.shape", tuple(module.weight.shape), tuple(module.normalized_shape))]
    return [
        ("weight.shape", tuple(module.weight.shape), (module.num_features,)),
        ("running_mean.shape", tuple(module.running_mean.shape), (module.num_features,)),
    ]


def _lstm_sizes(module: nn.LSTM) -> list[tuple[str, object, object]]:
    hidden = module.hidden_size
    rows = []
    for layer in range(module.num_layers):
        inputs = module.input_size if layer == 0 else hidden
        rows.append(
            (f"weight_ih_l{layer}.shape", tuple(getattr(module, f"weight_ih_l{layer}").shape), (4 * hidden, inputs))
        )
        rows.append(
            (f"weight_hh_l{layer}.shape", tuple(getattr(module, f"weight_hh_l{layer}").shape), (4 * hidden, hidden))
        )
        if module.bias:
            rows.append((f"bias_ih_l{layer}.shape", tuple(getattr(module, f"bias_ih_l{layer}").shape), (4 * hidden,)))
    return rows


_SIZE_CHECKS = (
    (nn.Linear, _linear_sizes),
    (nn.Conv2d, _conv_sizes),
    ((nn.LayerNorm, nn.BatchNorm2d), _norm_sizes),
    (nn.LSTM, _lstm_sizes),
)


def size_mismatches(model: nn.Module) -> list[str]:
    """Every layer whose declared sizes (out_features, in_channels, hidden_size, ...) disagree with its tensors."""
    found = []
    for fqn, module in model.named_modules():
        for kind, sizes in _SIZE_CHECKS:
            if isinstance(module, kind):
                found += [
                    f"{fqn}.{what} is {actual}, declared sizes say {declared}"
                    for what, actual, declared in sizes(module)
                    if actual != declared
                ]
    return found


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def _normalize_over_kept(norm: nn.LayerNorm, kept: torch.Tensor):
    """Forward hook: the LayerNorm's statistics over the kept units only; pruned units stay zero."""

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        index = kept.to(output.device)
        x = inputs[0].index_select(-1, index)
        normalized = F.layer_norm(x, (len(index),), norm.weight[index], norm.bias[index], norm.eps)
        return torch.zeros_like(output).index_copy(-1, index, normalized)

    return hook


@dataclass
class PrunedChain:
    """A chain's model after prepare, step and ``prune()``, with what the checks compare it against."""

    pruned: nn.Module
    example_input: torch.Tensor
    masked: list[torch.Tensor]  # the masked model's outputs
    masked_kept_statistics: list[torch.Tensor] | None  # the same, a LayerNorm's statistics over kept units
    kept: torch.Tensor | None  # output channels (LSTM: units) of ``chain.output_layer`` the masks keep
    before: ModelRecord  # the model before prepare
    untouched: dict[str, torch.Tensor]  # tensors of ``chain.untouched`` before prepare
    parameters_before: int
    width_before: int | None  # an LSTM output layer's hidden_size before prune()
    dense: nn.Module | None  # a copy of the model before prepare, when asked for


def prune_chain(
    backend: Backend,
    device: str,
    dtype: torch.dtype,
    chain: Chain,
    prune_bias: bool,
    training: bool = False,
    dense: bool = False,
) -> PrunedChain:
    """Build the chain's model (in ``training`` mode), prepare, step, record the masked outputs, prune."""
    model = build_chain_model(chain, device, dtype).train(training)
    x = torch.randn(chain.input_shape, device=device, dtype=dtype)
    dense_copy = copy.deepcopy(model) if dense else None
    before, untouched = record_model(model), snapshot_tensors(model, chain.untouched)
    parameters_before = parameter_count(model)
    if dtype != torch.float32:  # every torch build has float32 kernels for these layers: spare the forward
        require_torch_kernels(model, x)
    pruner = make_every_third_pruner(backend)({"prune_bias": prune_bias})
    pruner.prepare(model, [dict(entry) for entry in chain.config])
    pruner.step()
    kept = kept_output_indices(model, chain.output_layer) if chain.output_layer else None
    masked_kept_statistics = None
    with torch.no_grad():
        masked = flat_outputs(model(x))
        if chain.layernorm:
            norm = model.get_submodule(chain.layernorm)
            handle = norm.register_forward_hook(_normalize_over_kept(norm, kept))
            masked_kept_statistics = flat_outputs(model(x))
            handle.remove()
    width_before = model.get_submodule(chain.output_layer).hidden_size if chain.family == "lstm" else None
    return PrunedChain(
        pruned=pruner.prune(),
        example_input=x,
        masked=masked,
        masked_kept_statistics=masked_kept_statistics,
        kept=kept,
        before=before,
        untouched=untouched,
        parameters_before=parameters_before,
        width_before=width_before,
        dense=dense_copy,
    )
