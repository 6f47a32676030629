"""The model zoo for the structured-pruning suites: one model per layer chain.

Layer sizes and expected output shapes follow PyTorch's own structured-pruning tests; the chains
marked *beyond torch* are ones ``torch.ao.pruning`` 2.13 cannot prune.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .models import SimpleLinear

IMAGE = (1, 1, 28, 28)
"""Input shape of every convolutional model."""


class LinearBias(nn.Module):
    """Linear layers alternating with and without bias: 7 -> 5 -> 6 -> 3 -> 3 -> 10."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Linear(7, 5, bias=True),
            nn.Linear(5, 6, bias=False),
            nn.Linear(6, 3, bias=True),
            nn.Linear(3, 3, bias=True),
            nn.Linear(3, 10, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class LinearActivation(nn.Module):
    """Linear layers separated by activation modules (ReLU, Tanh)."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Linear(7, 5, bias=True), nn.ReLU(), nn.Linear(5, 6, bias=False), nn.Tanh(), nn.Linear(6, 4, bias=True)
        )
        self.linear1 = nn.Linear(4, 3, bias=True)
        self.act1 = nn.ReLU()
        self.linear2 = nn.Linear(3, 10, bias=False)
        self.act2 = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(self.linear2(self.act1(self.linear1(self.seq(x)))))


class LinearActivationFunctional(nn.Module):
    """Linear layers separated by functional ``F.relu`` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Linear(7, 5, bias=True), nn.ReLU(), nn.Linear(5, 6, bias=False), nn.ReLU(), nn.Linear(6, 4, bias=True)
        )
        self.linear1 = nn.Linear(4, 3, bias=True)
        self.linear2 = nn.Linear(3, 8, bias=False)
        self.linear3 = nn.Linear(8, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.linear1(self.seq(x)))
        x = F.relu(self.linear2(x))
        return F.relu(self.linear3(x))


class LinearTorchReluDropout(nn.Module):
    """*Beyond torch*: ``torch.relu`` (not ``F.relu``) and ``nn.Dropout`` between Linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(7, 9, bias=True)
        self.dropout = nn.Dropout(0.25)
        self.linear2 = nn.Linear(9, 6, bias=True)
        self.linear3 = nn.Linear(6, 10, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(torch.relu(self.linear1(x)))
        return self.linear3(torch.relu(self.linear2(x)))


class SimpleConv2d(nn.Module):
    """Bias-free convolutions: 1 -> 32 -> 64 -> 48 -> 52 channels, 28x28 -> 20x20."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(nn.Conv2d(1, 32, 3, 1, bias=False), nn.Conv2d(32, 64, 3, 1, bias=False))
        self.conv2d1 = nn.Conv2d(64, 48, 3, 1, bias=False)
        self.conv2d2 = nn.Conv2d(48, 52, 3, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d2(self.conv2d1(self.seq(x)))


class Conv2dBias(nn.Module):
    """Convolutions with and without bias, no activations: 28x28 -> 18x18."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, bias=True), nn.Conv2d(32, 32, 3, 1, bias=True), nn.Conv2d(32, 64, 3, 1, bias=False)
        )
        self.conv2d1 = nn.Conv2d(64, 48, 3, 1, bias=True)
        self.conv2d2 = nn.Conv2d(48, 52, 3, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d2(self.conv2d1(self.seq(x)))


class Conv2dActivation(nn.Module):
    """Convolutions separated by activation modules and functions (``F.relu``, ``F.hardtanh``)."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, bias=True),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, 1, bias=True),
            nn.Tanh(),
            nn.Conv2d(64, 64, 3, 1, bias=False),
            nn.ReLU(),
        )
        self.conv2d1 = nn.Conv2d(64, 48, 3, 1, bias=False)
        self.conv2d2 = nn.Conv2d(48, 52, 3, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardtanh(self.conv2d2(F.relu(self.conv2d1(self.seq(x)))))


class Conv2dPadBias(nn.Module):
    """Padded convolutions after biased ones, with activations: 28x28 -> 24x24."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, padding=1, bias=True),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, padding=1, bias=True),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, padding=1, bias=True),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, 1, bias=True),
            nn.Tanh(),
        )
        self.conv2d1 = nn.Conv2d(64, 48, 3, 1, padding=1, bias=True)
        self.act1 = nn.ReLU()
        self.conv2d2 = nn.Conv2d(48, 52, 3, 1, padding=1, bias=True)
        self.act2 = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(self.conv2d2(self.act1(self.conv2d1(self.seq(x)))))


class Conv2dPool(nn.Module):
    """Convolutions with max and average pooling (modules and functions) around activations."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1, bias=True),
            nn.MaxPool2d(kernel_size=2, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3, padding=1, bias=True),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2, padding=1),
        )
        self.conv2d1 = nn.Conv2d(64, 48, kernel_size=3, padding=1, bias=True)
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2, padding=1)
        self.af1 = nn.ReLU()
        self.conv2d2 = nn.Conv2d(48, 52, kernel_size=3, padding=1, bias=True)
        self.conv2d3 = nn.Conv2d(52, 52, kernel_size=3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.af1(self.maxpool(self.conv2d1(self.seq(x))))
        x = F.relu(F.avg_pool2d(self.conv2d2(x), kernel_size=2, stride=2, padding=1))
        return self.conv2d3(x)


class _Conv2dPoolFlattenBase(nn.Module):
    def __init__(self, pooled: tuple[int, int], fc_in: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(1, 3, kernel_size=3, padding=1, bias=True),
            nn.MaxPool2d(kernel_size=2, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(3, 5, kernel_size=3, padding=1, bias=True),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2, padding=1),
        )
        self.conv2d1 = nn.Conv2d(5, 7, kernel_size=3, padding=1, bias=True)
        self.af1 = nn.ReLU()
        self.conv2d2 = nn.Conv2d(7, 11, kernel_size=3, padding=1, bias=True)
        self.avg_pool = nn.AdaptiveAvgPool2d(pooled)
        self.fc = nn.Linear(fc_in, 13, bias=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.af1(F.max_pool2d(self.conv2d1(self.seq(x)), kernel_size=2, stride=2, padding=1))
        return self.avg_pool(self.conv2d2(x))


class Conv2dPoolFlattenFunctional(_Conv2dPoolFlattenBase):
    """conv2d -> adaptive pool (1x1) -> ``torch.flatten`` -> linear."""

    def __init__(self) -> None:
        super().__init__((1, 1), 11)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


class Conv2dPoolFlatten(_Conv2dPoolFlattenBase):
    """conv2d -> adaptive pool (2x2) -> ``nn.Flatten`` -> linear (4 input columns per channel)."""

    def __init__(self) -> None:
        super().__init__((2, 2), 44)
        self.flatten = nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.features(x)))


class Conv2dMaxPoolFlattenLinear(nn.Module):
    """*Beyond torch*: conv2d -> MaxPool2d -> flatten -> linear (each channel feeds 7x7 columns)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, kernel_size=3, padding=1, bias=True)
        self.pool = nn.MaxPool2d(4)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(6 * 7 * 7, 10, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(torch.relu(self.conv(x)))))


class Conv2dBatchNormActivation(nn.Module):
    """*Beyond torch*: conv2d -> BatchNorm2d -> activation -> conv2d (the BN's channels go too)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, bias=True)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 5, kernel_size=3, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.bn(self.conv1(x))))


class Conv2dPReLU(nn.Module):
    """*Beyond torch*: conv2d -> PReLU (one slope per channel) -> conv2d: the slopes shrink too."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, bias=True)
        self.act = nn.PReLU(8)
        self.conv2 = nn.Conv2d(8, 5, kernel_size=3, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


class LSTMLinear(nn.Module):
    """LSTM -> Linear; returns the linear's output and the LSTM's (which shrinks when pruned)."""

    def __init__(self, num_layers: int = 1, input_dim: int = 8, hidden_dim: int = 8, output_dim: int = 8) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, num_layers)
        self.linear = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output, _ = self.lstm(x)
        return self.linear(output), output


class LSTMLayerNormLinear(nn.Module):
    """LSTM -> LayerNorm -> Linear; returns the linear's output and the LSTM's final states."""

    def __init__(self, num_layers: int = 1, input_dim: int = 8, hidden_dim: int = 8, output_dim: int = 8) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, num_layers)
        self.norm = nn.LayerNorm(hidden_dim)
        self.linear = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        output, state = self.lstm(x)
        return self.linear(self.norm(output)), state


__all__ = [
    "IMAGE",
    "Conv2dActivation",
    "Conv2dBatchNormActivation",
    "Conv2dBias",
    "Conv2dMaxPoolFlattenLinear",
    "Conv2dPReLU",
    "Conv2dPadBias",
    "Conv2dPool",
    "Conv2dPoolFlatten",
    "Conv2dPoolFlattenFunctional",
    "LSTMLayerNormLinear",
    "LSTMLinear",
    "LinearActivation",
    "LinearActivationFunctional",
    "LinearBias",
    "LinearTorchReluDropout",
    "SimpleConv2d",
    "SimpleLinear",
]
