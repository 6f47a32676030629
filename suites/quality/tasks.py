"""What a model is trained and judged on: batches, the training loss and the held-out quality metric.

A task binds one data set to one way of scoring a model, so training, calibration, fine-tuning and
evaluation of every model of that data set draw from the same place. Models return logits: class
scores for the digits, next-byte scores for the text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .data import Digits, Text

ExampleInputs = tuple[torch.Tensor, ...]
Batch = tuple[ExampleInputs, torch.Tensor]
"""A model's positional inputs and the targets its logits are scored against."""


@dataclass(frozen=True)
class Metric:
    """How a task's quality number reads: its name, unit and which direction is better."""

    name: str
    unit: str
    higher_is_better: bool
    decimals: int
    noise_floor: float
    """The smallest difference called one even when every seed agreed (``stats.differs``)."""

    def format(self, value: float) -> str:
        return f"{value:.{self.decimals}f}{self.unit}"


ACCURACY = Metric("top-1 accuracy", "%", higher_is_better=True, decimals=1, noise_floor=0.5)
"""Floor 0.5 points: two of the 397 test images (masks equal up to tied weights can move one or two)."""
PERPLEXITY = Metric("held-out perplexity", "", higher_is_better=False, decimals=2, noise_floor=0.02)
"""Floor 0.02: the precision the reports print perplexity at."""


class Task(Protocol):
    """One data set and its metric, as training, pruning and evaluation use it."""

    name: str
    metric: Metric
    data_sha256: str
    data_source: str

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch: ...

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor: ...

    def quality(self, model: nn.Module) -> float: ...

    def example_inputs(self) -> ExampleInputs:
        """One sample (batch 1): what tracing pruners and the MAC count run."""

    def calibration(self, batches: int, batch_size: int, generator: torch.Generator) -> list[ExampleInputs]: ...


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for the block; every module's training flag is restored after it."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, flag in flags:
            module.train(flag)


class DigitsTask:
    """Classify scikit-learn's 8x8 digits; quality is top-1 accuracy on the held-out images, in percent."""

    name = "digits"
    metric = ACCURACY

    def __init__(self, data: Digits) -> None:
        self.data = data
        self.data_sha256 = data.sha256
        self.data_source = data.source

    def _draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, len(self.data.train_labels), (count,), generator=generator)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        picked = self._draw(batch_size, generator)
        return (self.data.train_images[picked],), self.data.train_labels[picked]

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        inputs, labels = batch
        return F.cross_entropy(model(*inputs), labels)

    def quality(self, model: nn.Module) -> float:
        with evaluating(model):
            predicted = model(self.data.test_images).argmax(dim=-1)
        return 100.0 * (predicted == self.data.test_labels).float().mean().item()

    def example_inputs(self) -> ExampleInputs:
        return (self.data.test_images[:1],)

    def calibration(self, batches: int, batch_size: int, generator: torch.Generator) -> list[ExampleInputs]:
        return [(self.data.train_images[self._draw(batch_size, generator)],) for _ in range(batches)]


class TextTask:
    """Predict the next byte of English text; quality is the perplexity on held-out windows (lower is better).

    Held-out windows are ``eval_windows`` evenly spaced, non-overlapping windows of the held-out part,
    the same for every model, so two methods are scored on exactly the same bytes.
    """

    name = "text"
    metric = PERPLEXITY

    def __init__(self, data: Text, context: int, eval_windows: int) -> None:
        self.data = data
        self.context = context
        self.data_sha256 = data.sha256
        self.data_source = data.source
        span = context + 1
        available = len(data.held_out) // span
        if eval_windows > available:
            raise ValueError(f"eval_windows={eval_windows}: the held-out text holds only {available} of {span} bytes")
        stride = available // eval_windows
        starts = torch.arange(eval_windows) * stride * span
        self.held_out_windows = torch.stack([data.held_out[s : s + span] for s in starts.tolist()])

    def _windows(self, count: int, generator: torch.Generator) -> torch.Tensor:
        starts = torch.randint(0, len(self.data.train) - self.context - 1, (count,), generator=generator)
        return torch.stack([self.data.train[s : s + self.context + 1] for s in starts.tolist()])

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        windows = self._windows(batch_size, generator)
        return (windows[:, :-1],), windows[:, 1:]

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        inputs, targets = batch
        logits = model(*inputs)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def quality(self, model: nn.Module) -> float:
        windows = self.held_out_windows
        with evaluating(model):
            loss = self.loss(model, ((windows[:, :-1],), windows[:, 1:]))
        return math.exp(loss.item())

    def example_inputs(self) -> ExampleInputs:
        return (self.held_out_windows[:1, :-1],)

    def calibration(self, batches: int, batch_size: int, generator: torch.Generator) -> list[ExampleInputs]:
        return [(self._windows(batch_size, generator)[:, :-1],) for _ in range(batches)]
