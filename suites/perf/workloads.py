"""Models the performance suites measure: single large Linear layers, a deep MLP, a conv stack."""

from __future__ import annotations

import torch
from torch import nn

MLP_WIDTH = 512
CONV_CHANNELS = 64


def square_linear(size: int, device: str) -> nn.Sequential:
    """One bias-free ``size x size`` Linear with fresh random weights (so no round sees ties)."""
    layer = nn.Linear(size, size, bias=False, device=device)
    return nn.Sequential(layer)


def deep_mlp(depth: int, device: str) -> nn.Sequential:
    """``depth`` blocks of Linear(512, 512) + ReLU."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(MLP_WIDTH, MLP_WIDTH), nn.ReLU()]
    return nn.Sequential(*layers).to(device)


def conv_stack(depth: int, device: str) -> nn.Sequential:
    """``depth`` blocks of Conv2d(64, 64, 3, padding=1) + ReLU: biased convs feeding padded ones."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Conv2d(CONV_CHANNELS, CONV_CHANNELS, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers).to(device)


def mlp_input(device: str, batch: int = 64) -> torch.Tensor:
    return torch.randn(batch, MLP_WIDTH, device=device)


def conv_input(device: str, side: int = 16) -> torch.Tensor:
    return torch.randn(1, CONV_CHANNELS, side, side, device=device)


CALIBRATION_ROWS = 128
"""Rows of each one-shot calibration batch (4 batches: 512 samples, SparseGPT's Hessian of full rank at 512 inputs)."""


def linear_stack(size: int, device: str, depth: int = 4) -> nn.Sequential:
    """``depth`` bias-free ``size x size`` Linear layers with ReLUs between: what a one-shot pruner calibrates and
    prunes layer after layer (each layer's inputs are the previous layer's outputs)."""
    layers: list[nn.Module] = []
    for index in range(depth):
        layers += [nn.Linear(size, size, bias=False)] + ([nn.ReLU()] if index < depth - 1 else [])
    return nn.Sequential(*layers).to(device).eval()


def calibration_rows(size: int, device: str, batches: int = 4, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(CALIBRATION_ROWS, size, generator=generator).to(device) for _ in range(batches)]
