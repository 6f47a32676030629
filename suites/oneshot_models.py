"""The models the one-shot suite prunes, with their calibration data: a Linear stack and a tiny Llama.

One-shot pruners meet language models in practice, so the suite prunes a tiny ``LlamaForCausalLM`` (two
decoder layers, hidden 64, MLP 256, grouped-query attention 4 / 2 heads, built from a config, nothing
downloaded; the MLP's down projection has 256 inputs, two of SparseGPT's usual 128-column blocks)
with its ``lm_head`` in the ignore list, as users configure it; and a plain Linear stack with a LayerNorm
and a head left out, for libraries that take any ``nn.Module``. Calibration inputs have heavy-tailed
per-feature scales (a few input features much louder than the rest), as language models' activations do:
the Linear stack draws them so, and the Llama's RMSNorm weights are drawn log-normal. That is the setting
activation-aware rules exist for; with equal scales every rule reduces to magnitude.

Every model and batch comes from a fixed seed of its own, not the test's: all checks of one case judge one
pruning run (``suites/oneshot_cases.py`` caches it), and rerunning any test id reproduces it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from prunebench.harness.oneshot import Batch
from torch import nn

from .zoo.models import require_transformers

STACK_FEATURES = 32
CALIBRATION_BATCHES = 4
"""Batches of calibration data; with ``SAMPLES_PER_BATCH`` rows or sequences each."""
SAMPLES_PER_BATCH = 4
SEQUENCE_LENGTH = 32
"""Tokens per calibration sequence: 16 sequences x 32 tokens = 512 input rows per layer, more than any
layer's 256 inputs, so every Hessian has full rank."""
VOCAB_SIZE = 64
OUTLIER_SIGMA = 1.0
"""Log-normal spread of the per-feature scales (norm weights): exp(N(0, 1)) puts a few features ~10x the median."""


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


class LinearStack(nn.Module):
    """32 -> 64 -> 64 -> 16: Linear, ReLU, Linear, LayerNorm, then the head (ignored when pruning)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(STACK_FEATURES, 64), nn.ReLU(), nn.Linear(64, 64), nn.LayerNorm(64))
        self.head = nn.Linear(64, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _build_stack() -> nn.Module:
    model = LinearStack()
    with torch.no_grad():
        model.body[3].weight.uniform_(0.5, 1.5)  # a LayerNorm that is not the identity, so a change shows
        model.body[3].bias.uniform_(-0.5, 0.5)
    return model


def _stack_batches(generator: torch.Generator, count: int, rows: int) -> list[Batch]:
    """Rows whose features have the stack's fixed scales (the same in calibration and held-out data)."""
    scales = torch.exp(OUTLIER_SIGMA * torch.randn(STACK_FEATURES, generator=torch.Generator().manual_seed(0)))
    return [torch.randn(rows, STACK_FEATURES, generator=generator) * scales for _ in range(count)]


def tiny_llama(vocab_size: int, hidden_size: int, intermediate_size: int, positions: int) -> nn.Module:
    """A two-layer ``LlamaForCausalLM`` with grouped-query attention (4 query / 2 key-value heads) and its own
    ``lm_head`` (untied), random weights."""
    transformers = require_transformers()
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=positions,
        tie_word_embeddings=False,
    )
    return transformers.LlamaForCausalLM(config)


def _build_llama() -> nn.Module:
    model = tiny_llama(VOCAB_SIZE, hidden_size=64, intermediate_size=256, positions=SEQUENCE_LENGTH)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.copy_(torch.exp(OUTLIER_SIGMA * torch.randn_like(parameter)))
    return model


def _token_batches(generator: torch.Generator, count: int, rows: int) -> list[Batch]:
    return [torch.randint(0, VOCAB_SIZE, (rows, SEQUENCE_LENGTH), generator=generator) for _ in range(count)]


@dataclass(frozen=True)
class OneShotModel:
    """One model of the suite: how to build it, its calibration batches, and what pruning leaves out."""

    name: str
    construct: Callable[[], nn.Module]
    draw_batches: Callable[[torch.Generator, int, int], list[Batch]]
    ignore: tuple[str, ...] = ()
    """Module names left out of pruning (the head): the prune must leave them bit-identical."""
    transformers: bool = False
    """A ``transformers`` model: saved with ``save_pretrained``, loaded with ``from_pretrained``."""

    def build(self, device: str, dtype: torch.dtype) -> nn.Module:
        """The dense model, eval mode, its weights from this model's own seed."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_of(self.name))
            model = self.construct()
        return model.eval().to(device=device, dtype=dtype)

    def batches(self, device: str, dtype: torch.dtype, purpose: str = "calibration") -> list[Batch]:
        """Calibration batches (or ``held-out`` ones, drawn apart), on ``device``, floats in ``dtype``."""
        generator = torch.Generator().manual_seed(seed_of(f"{self.name}-{purpose}"))
        batches = self.draw_batches(generator, CALIBRATION_BATCHES, SAMPLES_PER_BATCH)
        return [_to(batch, device, dtype) for batch in batches]

    def scarce_batches(self, device: str, dtype: torch.dtype) -> list[Batch]:
        """One small batch: fewer input rows than a layer has inputs, so its Hessian is rank-deficient (the
        Linear stack's first input feature is moreover always zero)."""
        generator = torch.Generator().manual_seed(seed_of(f"{self.name}-scarce"))
        batch = self.draw_batches(generator, 1, 1 if self.transformers else 4)[0]
        if self.transformers:
            batch = batch[:, : SEQUENCE_LENGTH // 4]
        else:
            batch[:, 0] = 0
        return [_to(batch, device, dtype)]


def _to(batch: torch.Tensor, device: str, dtype: torch.dtype) -> torch.Tensor:
    return batch.to(device=device, dtype=dtype) if batch.is_floating_point() else batch.to(device)


ONESHOT_MODELS: dict[str, OneShotModel] = {
    "stack": OneShotModel("stack", _build_stack, _stack_batches, ignore=("head",)),
    "llama": OneShotModel("llama", _build_llama, _token_batches, ignore=("lm_head",), transformers=True),
}
