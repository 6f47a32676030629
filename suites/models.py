"""The model zoo for the sparsifier suites (layer sizes follow PyTorch's own sparsity tests)."""

from __future__ import annotations

import torch
from torch import nn

SIMPLE_LINEAR_LAYERS: tuple[str, ...] = ("seq.0", "seq.1", "seq.2", "linear1", "linear2")
"""Every Linear of ``SimpleLinear``, by module fqn."""


class SimpleLinear(nn.Module):
    """Bias-free Linear layers, three nested in a Sequential and two after it: 7 -> 5 -> 6 -> 4 -> 4 -> 10."""

    in_features = 7

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(7, 5, bias=False), nn.Linear(5, 6, bias=False), nn.Linear(6, 4, bias=False))
        self.linear1 = nn.Linear(4, 4, bias=False)
        self.linear2 = nn.Linear(4, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.linear1(self.seq(x)))


class DeepNested(nn.Module):
    """Linear layers three containers deep, next to modules that must not be sparsified."""

    in_features = 8

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleDict({"inner": nn.Sequential(nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.LayerNorm(8))})
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block["inner"](x))


DEEP_NESTED_LAYERS: tuple[str, ...] = ("block.inner.0.0", "head")


def build(model_class: type[nn.Module], device: str, dtype: torch.dtype) -> nn.Module:
    """A fresh instance on ``device`` in ``dtype`` (weights drawn from the test's seeded RNG)."""
    return model_class().to(device=device, dtype=dtype)


def example_input(model: nn.Module, batch: int = 3) -> torch.Tensor:
    parameter = next(model.parameters())
    return torch.randn(batch, model.in_features, device=parameter.device, dtype=parameter.dtype)


def linear_stack(shapes: list[tuple[int, int]], device: str, dtype: torch.dtype) -> nn.Sequential:
    """A Sequential of bias-free Linear layers with the given (out_features, in_features) weights."""
    layers = [nn.Linear(cols, rows, bias=False) for rows, cols in shapes]
    return nn.Sequential(*layers).to(device=device, dtype=dtype)
