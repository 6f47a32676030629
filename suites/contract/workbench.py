"""What the generic checks share: the models they sparsify, their config, a calibrated step, snapshots.

Layer sizes are multiples of 8, so block shapes up to 8 wide tile every weight and a sparsity level
can be reached exactly. The sparsifiers' model has a layer left out of every config (``head``) and a
module they must never touch (``block.2``, a LayerNorm); the pruners' model is a chain that every
structured pruner can shrink (Linear -> ReLU -> Linear -> ReLU -> Linear), with the same layer names.
"""

from __future__ import annotations

from typing import Any

import torch
from prunebench.harness.errors import UnsupportedError
from prunebench.harness.subjects import PRUNER
from torch import nn

from ..checks import is_masked, kept, mask_of, original_of

CONFIGURED: tuple[str, ...] = ("embed", "block.1")
"""The layers whose weights the checks configure; ``head`` stays dense."""
LINEAR_LAYERS: tuple[str, ...] = ("embed", "block.1", "head")
BATCH = 8


class CheckModel(nn.Module):
    """16 -> 32 -> 32 -> 8: Linear, ReLU + Linear + LayerNorm in a nested Sequential, Linear head."""

    in_features = 16

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(16, 32)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(32, 32), nn.LayerNorm(32))
        self.head = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.embed(x)))


class ChainModel(nn.Module):
    """16 -> 32 -> 32 -> 8 as a prunable chain: ``embed`` and ``block.1`` shrink, ``head`` loses columns."""

    in_features = 16

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(16, 32)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.embed(x)))


def build_model(kind: str, device: str, dtype: torch.dtype, seed: int = 0) -> nn.Module:
    """A fresh model for subjects of ``kind``, its weights drawn from ``seed`` only (signed, non-constant)."""
    generator = torch.Generator().manual_seed(seed)
    model = ChainModel() if kind == PRUNER else CheckModel()
    with torch.no_grad():
        for parameter in model.parameters():
            # unit-variance activations, as nn.Linear's own init gives: half-precision outputs stay comparable
            scale = parameter.shape[1] ** -0.5 if parameter.dim() == 2 else 0.1
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return model.to(device=device, dtype=dtype)


def batch(model: nn.Module, seed: int = 1) -> torch.Tensor:
    parameter = next(model.parameters())
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, model.in_features, generator=generator).to(parameter.device, parameter.dtype)


def config(layers: tuple[str, ...] = CONFIGURED, **overrides: Any) -> list[dict[str, Any]]:
    """One config entry per layer's weight; ``overrides`` go into the first entry only."""
    entries = [{"tensor_fqn": f"{layer}.weight"} for layer in layers]
    entries[0].update(overrides)
    return entries


def calibrate(model: nn.Module) -> None:
    """One forward pass without autograd: what activation-aware rules (Wanda) record their statistics from."""
    with torch.no_grad():
        model(batch(model))


def calibrated_step(sparsifier: Any, model: nn.Module) -> None:
    """``calibrate``, then ``step()``."""
    calibrate(model)
    sparsifier.step()


def prepared(subject: Any, device: str, dtype: torch.dtype, seed: int = 0, stepped: bool = True) -> tuple:
    """A fresh model and sparsifier, prepared on ``CONFIGURED`` (and stepped once unless told not to)."""
    model = build_model(subject.kind, device, dtype, seed)
    sparsifier = subject.build()
    sparsifier.prepare(model, config())
    if stepped:
        calibrated_step(sparsifier, model)
    return model, sparsifier


def masks(model: nn.Module, layers: tuple[str, ...] = CONFIGURED, name: str = "weight") -> dict[str, torch.Tensor]:
    """Each layer's live mask as bool (True = kept), cloned."""
    return {layer: kept(mask_of(model.get_submodule(layer), name)).clone() for layer in layers}


def require_zeros(found: dict[str, torch.Tensor], why: str) -> None:
    """A check about masked positions proves nothing when the masks mask nothing: unsupported, not passed."""
    if all(bool(mask.all()) for mask in found.values()):
        raise UnsupportedError(
            f"a step with the class's constructor arguments zeroed nothing, so {why} cannot be checked; "
            "pass constructor arguments that make it sparsify (prunebench check --kwargs=...)"
        )


def values_by_name(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer except masks, by name, plus each masked tensor's original values.

    What ``step`` must leave bit-identical: it may write masks, nothing else.
    """
    values = {}
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "mask" or leaf.endswith("_mask"):  # parametrization masks; torch.nn.utils.prune's buffers
            continue
        values[name] = tensor.detach().clone()
    for fqn, module in model.named_modules():
        for tensor_name in ("weight", "bias"):
            if is_masked(module, tensor_name):
                values[f"{fqn}.{tensor_name} (original)"] = original_of(module, tensor_name).detach().clone()
    return values


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> list[str]:
    """Names whose value, dtype or shape differ (NaN equal to NaN), and names that appeared or vanished."""
    names = sorted(set(before) | set(after))
    return [
        name
        for name in names
        if name not in before
        or name not in after
        or before[name].shape != after[name].shape
        or before[name].dtype != after[name].dtype
        or not torch.equal(before[name].nan_to_num(), after[name].nan_to_num())
    ]
