"""What the generic checks share: the models (benches) they sparsify, their config, a calibrated step, snapshots.

A *bench* is one model a check runs on, named in the check's test id. The checks every subject owes run
on an MLP (``mlp``) and a CNN (``cnn``), so a rule that only works for ``nn.Linear`` cannot pass by
never meeting a convolution. Both name their layers alike: ``embed`` and ``block.1`` are configured,
``head`` is a Linear left out of every config, and ``block.2`` is a normalization layer no sparsifier
may touch. Layer sizes are multiples of 8, so block shapes up to 8 wide tile every weight and a
sparsity level can be reached exactly. A structured pruner's ``prune()`` is checked on every layer chain
of the structured suites instead (``suites/chains.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from prunebench.harness.errors import UnsupportedError
from prunebench.harness.subjects import PRUNER, SPARSIFIER, Subject
from torch import nn

from ..checks import is_masked, kept, mask_of, original_of

CONFIGURED: tuple[str, ...] = ("embed", "block.1")
"""The layers whose weights the checks configure; ``head`` stays dense."""
EVERY_LAYER: tuple[str, ...] = ("embed", "block.1", "head")
BATCH = 8
IMAGE_SIDE = 8


class CheckModel(nn.Module):
    """16 -> 32 -> 32 -> 8: Linear, ReLU + Linear + LayerNorm in a nested Sequential, Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(16, 32)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(32, 32), nn.LayerNorm(32))
        self.head = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.embed(x)))


class ChainModel(nn.Module):
    """16 -> 32 -> 32 -> 8 as a prunable chain: ``embed`` and ``block.1`` shrink, ``head`` loses columns."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(16, 32)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.embed(x)))


class ConvCheckModel(nn.Module):
    """3 -> 16 -> 16 channels of 3x3 convolutions with a BatchNorm, pooled into a Linear head of 8."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 16, 3, padding=1)
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16))
        self.head = nn.Linear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.embed(x)).mean(dim=(2, 3)))


class ConvChainModel(nn.Module):
    """The same as a prunable chain: ``embed`` and ``block.1`` lose filters, ``head`` loses columns."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 16, 3, padding=1)
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(self.pool(self.block(self.embed(x)))))


@dataclass(frozen=True)
class Bench:
    """One model the shared checks run on: its layer type, how to build it, its input and default layers."""

    name: str
    layer_type: str
    """The layer type it exercises (``harness.tags.LAYER_TYPES``): a class declaring others skips it."""
    models: dict[str, Callable[[], nn.Module]]
    """The model for each subject kind: a sparsifier's has a normalization layer, a pruner's a prunable chain."""
    input_shape: tuple[int, ...]
    masked_without_config: dict[str, tuple[str, ...]]
    """What ``prepare(model, None)`` must mask, per kind: every Linear for a sparsifier (as torch), every
    Linear and Conv2d for a structured pruner."""


BENCHES: dict[str, Bench] = {
    "mlp": Bench(
        "mlp",
        "Linear",
        {SPARSIFIER: CheckModel, PRUNER: ChainModel},
        (BATCH, 16),
        {SPARSIFIER: EVERY_LAYER, PRUNER: EVERY_LAYER},
    ),
    "cnn": Bench(
        "cnn",
        "Conv2d",
        {SPARSIFIER: ConvCheckModel, PRUNER: ConvChainModel},
        (BATCH, 3, IMAGE_SIDE, IMAGE_SIDE),
        {SPARSIFIER: ("head",), PRUNER: EVERY_LAYER},
    ),
}
BENCH_NAMES: tuple[str, ...] = tuple(BENCHES)


def bench_for(subject: Subject, name: str) -> Bench:
    """The bench ``name``, unless the subject declares it does not prune that bench's layer type."""
    bench = BENCHES[name]
    require_layer_type(subject, bench.layer_type)
    return bench


def require_layer_type(subject: Subject, layer_type: str) -> None:
    """Unsupported, with one reason per layer type (the test id names the bench or chain), when the subject
    declares it does not prune ``layer_type``."""
    if layer_type not in subject.tags.layer_types:
        raise UnsupportedError(
            f"{subject.name} declares layer_types {list(subject.tags.layer_types)}: its checks on {layer_type} "
            "layers do not apply"
        )


def build_model(subject: Subject, bench: Bench, device: str, dtype: torch.dtype, seed: int = 0) -> nn.Module:
    """A fresh model of the bench for the subject's kind, weights drawn from ``seed`` only, in eval mode.

    Weights are signed and scaled for unit-variance activations (as the layers' own init), so half
    precision outputs stay comparable; normalization layers get distinct per-channel parameters.
    """
    generator = torch.Generator().manual_seed(seed)
    model = bench.models[subject.kind]()
    with torch.no_grad():
        for parameter in model.parameters():
            fan_in = parameter[0].numel() if parameter.dim() > 1 else 0
            scale = fan_in**-0.5 if fan_in else 0.1
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return model.to(device=device, dtype=dtype).eval()


def batch(model: nn.Module, bench: Bench, seed: int = 1) -> torch.Tensor:
    parameter = next(model.parameters())
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(bench.input_shape, generator=generator).to(parameter.device, parameter.dtype)


def config(layers: tuple[str, ...] = CONFIGURED, **overrides: Any) -> list[dict[str, Any]]:
    """One config entry per layer's weight; ``overrides`` go into the first entry only."""
    entries = [{"tensor_fqn": f"{layer}.weight"} for layer in layers]
    entries[0].update(overrides)
    return entries


def calibrate(model: nn.Module, bench: Bench) -> None:
    """One forward pass without autograd, always on the same batch: what activation-aware rules (Wanda)
    record their statistics from."""
    with torch.no_grad():
        model(batch(model, bench))


def calibrated_step(sparsifier: Any, model: nn.Module, bench: Bench) -> None:
    """``calibrate``, then one ``step()``."""
    calibrate(model, bench)
    sparsifier.step()


def step_to_level(subject: Subject, sparsifier: Any, model: nn.Module, bench: Bench) -> int:
    """Calibrated steps until the subject's declared schedule is done (one for a one-shot class); how many."""
    steps = subject.tags.steps_for(sparsifier)
    for _ in range(steps):
        calibrated_step(sparsifier, model, bench)
    return steps


def prepared(
    subject: Subject, bench: Bench, device: str, dtype: torch.dtype, seed: int = 0, stepped: bool = True
) -> tuple[nn.Module, Any]:
    """A fresh model and sparsifier, prepared on ``CONFIGURED`` (and stepped once unless told not to)."""
    model = build_model(subject, bench, device, dtype, seed)
    sparsifier = subject.build()
    sparsifier.prepare(model, config())
    if stepped:
        calibrated_step(sparsifier, model, bench)
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


def redraw_weights(model: nn.Module, layers: tuple[str, ...], seed: int) -> None:
    """Write new values into the original weights of ``layers``, in place, as an optimizer step does.

    Fresh draws of the same scale change every rule's ranking (magnitude, norms, saliency), so a step
    after this must compute new masks; a class that reuses the masks of an earlier step shows.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in layers:
            weight = original_of(model.get_submodule(layer))
            fresh = torch.randn(weight.shape, generator=generator) * weight[0].numel() ** -0.5
            weight.copy_(fresh.to(weight.device, weight.dtype))
