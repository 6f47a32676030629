"""The models the quality suite trains: a CNN and an MLP on the digits, a Llama-style byte-level language model.

Each is a record: its architecture as plain data (what the checkpoint cache keys on), the task it
learns, the head left out of every pruning config (pruning the classifier or ``lm_head`` changes the
output space, not the model's cost), and its two training budgets: from scratch, and the fine-tuning
every method gets after pruning. Two presets exist: ``full`` (the published run) and ``quick`` (the
same models, trained briefly: a smoke test of the whole pipeline, minutes instead of tens of them).
The CNN is written the way a stranger writes one (convolutions, ReLUs, a pooling head); which
libraries can prune it structurally is part of what the suite reports.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from prunebench.harness.errors import UsageError
from torch import nn

from ..zoo.models import Logits, prunable_fqns
from .data import load_digits, load_text
from .tasks import DigitsTask, Task, TextTask

DIGIT_CLASSES = 10
BYTE_VOCABULARY = 256


@dataclass(frozen=True)
class Training:
    """One optimisation budget: AdamW over ``steps`` batches, linear warm-up then cosine decay to zero."""

    steps: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0
    warmup_fraction: float = 0.1


@dataclass(frozen=True)
class QualityModel:
    """A model of the quality suite: how to build it, what it learns, and how long it trains."""

    name: str
    description: str
    task: str
    architecture: Mapping[str, Any] = field(hash=False)
    training: Training
    fine_tuning: Training
    calibration_batches: int
    head: tuple[str, ...]

    def build(self) -> nn.Module:
        """The untrained model, initialised from torch's global generator (callers seed it)."""
        return BUILDERS[self.architecture["kind"]](self.architecture)

    def configured_layers(self, model: nn.Module) -> tuple[str, ...]:
        """Every Linear / Conv2d outside the head: the layers every method is asked to prune."""
        return tuple(prunable_fqns(model, self.head))

    def make_task(self) -> Task:
        return TASKS[self.task](self)


def _cnn(architecture: Mapping[str, Any]) -> nn.Module:
    first, second = architecture["channels"]
    kernel, pooled = architecture["kernel"], architecture["pooled_side"]
    return nn.Sequential(
        nn.Conv2d(1, first, kernel, padding=kernel // 2),
        nn.ReLU(),
        nn.Conv2d(first, second, kernel, padding=kernel // 2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(pooled),
        nn.Flatten(),
        nn.Linear(second * pooled * pooled, DIGIT_CLASSES),
    )


def _mlp(architecture: Mapping[str, Any]) -> nn.Module:
    first, second = architecture["hidden"]
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, first),
        nn.ReLU(),
        nn.Linear(first, second),
        nn.ReLU(),
        nn.Linear(second, DIGIT_CLASSES),
    )


def _llama(architecture: Mapping[str, Any]) -> nn.Module:
    """A ``transformers`` LlamaForCausalLM (only its long-stable config and class) returning logits alone."""
    try:
        transformers = importlib.import_module("transformers")
    except ImportError as error:
        raise UsageError(
            f"the language model needs transformers ({error}); install it with: pip install 'prunebench[zoo]'"
        ) from error
    config = transformers.LlamaConfig(
        vocab_size=BYTE_VOCABULARY,
        hidden_size=architecture["hidden"],
        intermediate_size=architecture["intermediate"],
        num_hidden_layers=architecture["layers"],
        num_attention_heads=architecture["heads"],
        num_key_value_heads=architecture["key_value_heads"],
        max_position_embeddings=architecture["context"],
        tie_word_embeddings=False,
        use_cache=False,
        attn_implementation="eager",
    )
    return Logits(transformers.LlamaForCausalLM(config))


BUILDERS = {"cnn": _cnn, "mlp": _mlp, "llama": _llama}

LM_ARCHITECTURE: dict[str, Any] = {
    "kind": "llama",
    "hidden": 96,
    "intermediate": 256,
    "layers": 3,
    "heads": 4,
    "key_value_heads": 2,
    "context": 128,
}
"""Smaller than issue #22's 4 layers x 128 (0.85M parameters, ~2 minutes a seed on an idle machine): on the
shared 2 cores three seeds of that would take most of the run's hour; this one (0.35M) trains in a few minutes."""
LM_EVAL_WINDOWS = 32
"""Held-out windows of 129 bytes scored per evaluation (4,096 predicted bytes, the same for every model)."""

DIGITS_TRAINING = Training(steps=600, batch_size=64, learning_rate=3e-3)
DIGITS_FINE_TUNING = Training(steps=100, batch_size=64, learning_rate=1e-3, warmup_fraction=0.0)
LM_TRAINING = Training(steps=500, batch_size=16, learning_rate=3e-3, weight_decay=0.01)
LM_FINE_TUNING = Training(steps=16, batch_size=16, learning_rate=3e-4, weight_decay=0.01, warmup_fraction=0.25)
"""Gentle on purpose: batches of 8 at lr 1e-3 without warm-up made even the trained dense model worse (Adam's first
steps move every weight by about lr, whatever its gradient); these settings leave the dense model nearly where it was
and still recover most of what heavy pruning loses (README's quality section gives the measurement)."""

FULL: dict[str, QualityModel] = {
    "cnn": QualityModel(
        "cnn",
        "Conv(1->16, 3x3)-ReLU-Conv(16->32, 3x3)-ReLU-AdaptiveAvgPool(4)-Linear(512->10) on the digits",
        "digits",
        {"kind": "cnn", "channels": (16, 32), "kernel": 3, "pooled_side": 4},
        DIGITS_TRAINING,
        DIGITS_FINE_TUNING,
        calibration_batches=4,
        head=("6",),
    ),
    "mlp": QualityModel(
        "mlp",
        "Linear(64->128)-ReLU-Linear(128->64)-ReLU-Linear(64->10) on the digits",
        "digits",
        {"kind": "mlp", "hidden": (128, 64)},
        DIGITS_TRAINING,
        DIGITS_FINE_TUNING,
        calibration_batches=4,
        head=("5",),
    ),
    "lm": QualityModel(
        "lm",
        "Llama (transformers LlamaForCausalLM): 3 layers, hidden 96, 4 heads / 2 key-value heads, MLP 256, "
        "byte vocabulary, context 128, on Python's documentation text",
        "text",
        LM_ARCHITECTURE,
        LM_TRAINING,
        LM_FINE_TUNING,
        calibration_batches=4,
        head=("model.lm_head",),
    ),
}
"""The published run's models, in report order."""

QUICK_STEPS = {"digits": 150, "text": 100}
"""Training steps of the quick preset: enough to be far above chance, far below converged."""


def _quick(model: QualityModel) -> QualityModel:
    return replace(model, training=replace(model.training, steps=QUICK_STEPS[model.task]))


PRESETS: dict[str, dict[str, QualityModel]] = {
    "full": FULL,
    "quick": {name: _quick(model) for name, model in FULL.items()},
}


def _digits_task(model: QualityModel) -> Task:
    return DigitsTask(load_digits())


def _text_task(model: QualityModel) -> Task:
    return TextTask(load_text(), model.architecture["context"], LM_EVAL_WINDOWS)


TASKS = {"digits": _digits_task, "text": _text_task}


def select_models(names: str, preset: str = "full") -> list[QualityModel]:
    """The comma-separated model names of ``preset``, in the order given; an unknown name is a usage error."""
    known = PRESETS[preset]
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise UsageError(f"--models={names!r}: expected a comma-separated list of {', '.join(known)}")
    return [known[name] for name in chosen]


def seeded_build(model: QualityModel, seed: int) -> nn.Module:
    """The model's initial weights drawn from ``seed``, without touching the caller's global generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model.build()
