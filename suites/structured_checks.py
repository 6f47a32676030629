"""Test pruners written against the backend's base class, a chain pruned with one, and checks of a pruned model."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from prunebench.harness.backend import Backend
from prunebench.harness.errors import UnsupportedError
from torch import nn
from torch.nn.utils import parametrize

from .chains import Chain, build_chain_model
from .checks import assert_close, kept, mask_of
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


def kept_output_indices(model: nn.Module, layer_fqn: str) -> list[torch.Tensor]:
    """Indices of the output channels a pruned layer keeps, read from its mask: one tensor, or for an LSTM
    the hidden units each of its layers keeps (its final states stack one row per layer; its output is
    the last layer's)."""
    module = model.get_submodule(layer_fqn)
    if isinstance(module, nn.LSTM):
        masks = [
            kept(mask_of(module, f"weight_ih_l{layer}"))[: module.hidden_size] for layer in range(module.num_layers)
        ]
    else:
        masks = [kept(mask_of(module, "weight"))]
    return [mask.nonzero().flatten().cpu() for mask in masks]


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
    masked_float64: tuple[list[torch.Tensor], list[torch.Tensor] | None] | None
    """Both again from a float64 copy of the masked model, in half precision (see ``check_pruned_chain``)."""
    kept: list[torch.Tensor] | None  # output channels of ``chain.output_layer`` the masks keep (LSTM: per layer)
    before: ModelRecord  # the model before prepare
    untouched: dict[str, torch.Tensor]  # tensors of ``chain.untouched`` before prepare
    parameters_before: int
    width_before: int | None  # an LSTM output layer's hidden_size before prune()
    dense: nn.Module | None  # a copy of the model before prepare, when asked for
    pruner: Any = None  # the pruner that pruned it


PARAMETER_ROUNDING: dict[torch.dtype, float] = {torch.float16: 1e-3, torch.bfloat16: 6e-3}
"""Tolerance of the float64 comparison of a half-precision pruned model (about one and a half of the dtype's
epsilons): what ``prune()`` may round when it folds a removed channel's constant into the next layer's
parameters, in their dtype. Each folded parameter is rounded once, to within one epsilon of itself; the
half epsilon more leaves room for the roundings of a few folds to add up. A pruned LSTM unit's bias leaking
into the kept units (~0.05, ``chains.LSTM_BIAS_SCALE``), or a removed channel's constant dropped, is larger."""
HALF_DTYPES = tuple(PARAMETER_ROUNDING)


def prune_chain(
    backend: Backend,
    device: str,
    dtype: torch.dtype,
    chain: Chain,
    prune_bias: bool,
    training: bool = False,
    dense: bool = False,
) -> PrunedChain:
    """The chain pruned by a pruner of the backend's base class that removes a non-prefix third of the rows."""
    pruner = make_every_third_pruner(backend)({"prune_bias": prune_bias})
    return prune_chain_with(pruner, device, dtype, chain, training, dense)


def prune_chain_with(
    pruner: Any,
    device: str,
    dtype: torch.dtype,
    chain: Chain,
    training: bool = False,
    dense: bool = False,
    steps: int = 1,
    require_masked: bool = False,
) -> PrunedChain:
    """Build the chain's model (in ``training`` mode), prepare ``pruner``, run ``steps`` calibrated steps,
    record the masked outputs, prune.

    Each step follows a forward of the example input (what activation-aware rules calibrate on).
    ``require_masked``: a pruner whose masks keep every row proves nothing about ``prune()``; unsupported.
    """
    model = build_chain_model(chain, device, dtype).train(training)
    x = torch.randn(chain.input_shape, device=device, dtype=dtype)
    dense_copy = copy.deepcopy(model) if dense else None
    before, untouched = record_model(model), snapshot_tensors(model, chain.untouched)
    parameters_before = parameter_count(model)
    if dtype != torch.float32:  # every torch build has float32 kernels for these layers: spare the forward
        require_torch_kernels(model, x)
    pruner.prepare(model, [dict(entry) for entry in chain.config])
    for _ in range(steps):
        with torch.no_grad():
            model(x)
        pruner.step()
    if require_masked and all(bool(kept(mask_of(*_tensor(model, e["tensor_fqn"]))).all()) for e in chain.config):
        raise UnsupportedError(
            f"a step with the class's constructor arguments masked no row of chain {chain.id}, so prune() cannot "
            "be checked; pass constructor arguments that make it prune (prunebench check --kwargs=...)"
        )
    kept_rows = kept_output_indices(model, chain.output_layer) if chain.output_layer else None
    masked, masked_kept_statistics = _masked_outputs(model, x, chain, kept_rows)
    masked_float64 = None
    if dtype in HALF_DTYPES:
        masked_float64 = _masked_outputs(copy.deepcopy(model).double(), x.double(), chain, kept_rows)
    width_before = model.get_submodule(chain.output_layer).hidden_size if chain.family == "lstm" else None
    return PrunedChain(
        pruned=pruner.prune(),
        example_input=x,
        masked=masked,
        masked_kept_statistics=masked_kept_statistics,
        masked_float64=masked_float64,
        kept=kept_rows,
        before=before,
        untouched=untouched,
        parameters_before=parameters_before,
        width_before=width_before,
        dense=dense_copy,
        pruner=pruner,
    )


def _masked_outputs(
    model: nn.Module, x: torch.Tensor, chain: Chain, kept_rows: list[torch.Tensor] | None
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """The masked model's outputs, and for a chain with a LayerNorm after an LSTM, its outputs with the
    LayerNorm's statistics taken over the kept units (what a pruned model that shrank the LayerNorm computes)."""
    kept_statistics = None
    with torch.no_grad():
        outputs = flat_outputs(model(x))
        if chain.layernorm:
            norm = model.get_submodule(chain.layernorm)
            handle = norm.register_forward_hook(_normalize_over_kept(norm, kept_rows[-1]))
            kept_statistics = flat_outputs(model(x))
            handle.remove()
    return outputs, kept_statistics


def _tensor(model: nn.Module, tensor_fqn: str) -> tuple[nn.Module, str]:
    module_fqn, _, tensor_name = tensor_fqn.rpartition(".")
    return model.get_submodule(module_fqn), tensor_name


def assert_outputs_match(
    masked: list[torch.Tensor],
    pruned: list[torch.Tensor],
    kept: list[torch.Tensor] | None,
    how: str = "",
    tolerance: float | None = None,
) -> None:
    """The pruned model's outputs equal the masked model's; an output the pruned layer feeds keeps only its
    kept channels (``kept``: the output layer's, last; an LSTM's final states: one row per layer's)."""
    assert len(masked) == len(pruned), f"the pruned model returns {len(pruned)} tensors, the masked {len(masked)}"
    for index, (expected, actual) in enumerate(zip(masked, pruned, strict=True)):
        what = f"output {index}"
        if expected.shape != actual.shape:
            assert kept is not None, f"{what} changed shape {tuple(expected.shape)} -> {tuple(actual.shape)}"
            expected = _kept_channels(expected, actual, kept, what)
        assert_close(
            actual, expected, f"pruned model's {what} differs from the masked model's {how}".rstrip(), tolerance
        )


def _kept_channels(expected: torch.Tensor, actual: torch.Tensor, kept: list[torch.Tensor], what: str) -> torch.Tensor:
    dims = [d for d in range(expected.dim()) if expected.shape[d] != actual.shape[d]]
    assert len(dims) == 1 and actual.shape[dims[0]] == len(kept[-1]), (
        f"{what} has shape {tuple(actual.shape)}; expected {tuple(expected.shape)} with only the pruned "
        f"layer's {len(kept[-1])} kept channels left"
    )
    if len(kept) > 1 and dims[0] == expected.dim() - 1 and expected.shape[0] == len(kept):  # per-layer states
        rows = [row.index_select(-1, units.to(row.device)) for row, units in zip(expected, kept, strict=True)]
        return torch.stack(rows)
    return expected.index_select(dims[0], kept[-1].to(expected.device))


def check_pruned_chain(case: PrunedChain, chain: Chain, must_shrink: bool) -> None:
    """The pruned model equals the masked one, lost parameters (if it must), and kept no pruning machinery.

    In half precision the outputs are compared twice: as computed (the pruned model runs in its dtype),
    and from float64 copies of both models, whose only difference is the pruning. A tolerance wide enough
    for bfloat16's rounding would let a real difference (a pruned unit's bias leaking into the kept ones)
    pass; in float64 it cannot hide.
    """
    pruned_model = case.pruned
    with torch.no_grad():
        pruned = flat_outputs(pruned_model(case.example_input))
    shrank_norm = chain.layernorm and pruned_model.get_submodule(chain.output_layer).hidden_size < case.width_before
    masked = case.masked_kept_statistics if shrank_norm else case.masked
    assert_outputs_match(masked, pruned, case.kept)
    if case.masked_float64 is not None:
        outputs, kept_statistics = case.masked_float64
        with torch.no_grad():
            exact = flat_outputs(copy.deepcopy(pruned_model).double()(case.example_input.double()))
        assert_outputs_match(
            kept_statistics if shrank_norm else outputs,
            exact,
            case.kept,
            "(both models in float64)",
            PARAMETER_ROUNDING[case.example_input.dtype],
        )
    remaining = parameter_count(pruned_model)
    if must_shrink:
        assert remaining < case.parameters_before, (
            f"prune() left {remaining} of {case.parameters_before} parameters: nothing was physically removed"
        )
    left = leftovers(pruned_model)
    assert not left, f"prune() left pruning machinery behind: {left}"
    wrong = size_mismatches(pruned_model)
    assert not wrong, f"pruned layers' declared sizes disagree with their tensors: {wrong}"
