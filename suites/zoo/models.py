"""The zoo: tiny real architectures from Hugging Face ``transformers``, built in code with random weights.

The layer chains of ``suites/structured_models.py`` are what a pruner's author tests; these are what its
users prune, and where pruners break: residual adds couple channels (ResNet, ViT, BERT, Llama),
depthwise and grouped convolutions tie inputs to outputs (MobileNetV2, RegNet), attention must lose whole
heads (ViT, BERT) and, under grouped-query attention, whole key/value groups with their query heads
(Llama), and a concatenation joins two branches' channels before a convolution (MobileViT's fusion).

Every model is built from a config written here (nothing is downloaded), in eval mode, small enough to
build in well under a second and run a forward in milliseconds. ``transformers`` is the optional extra
``prunebench[zoo]``: without it, ``require_transformers`` raises ``UnsupportedError`` so every zoo test is
visibly unsupported, never passed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from prunebench.harness.errors import UnsupportedError
from torch import nn

IMAGE_SIDE = 32
"""Height and width of the image models' inputs: the smallest that every stride of the zoo divides."""
SEQUENCE_LENGTH = 16
"""Tokens per sequence for the text models."""
VOCAB_SIZE = 100
NUM_LABELS = 10
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)
"""The layer types the zoo asks a structured pruner to prune (their output channels / rows)."""

ExampleInputs = tuple[torch.Tensor, ...]


def require_transformers() -> ModuleType:
    """``transformers``, or ``UnsupportedError`` naming the extra that installs it."""
    try:
        return importlib.import_module("transformers")
    except ImportError as error:
        raise UnsupportedError(
            f"the zoo needs the 'transformers' library ({error}); install it with: pip install 'prunebench[zoo]'"
        ) from error


@dataclass(frozen=True)
class ZooModel:
    """One architecture of the zoo: how to build it, what to feed it, and which modules are its head.

    ``head`` lists the module fqns left out of the pruning config (classifier, lm_head): pruning them
    would change the number of classes or the vocabulary, not the model's cost.
    """

    name: str
    build: Callable[[], nn.Module]
    example_inputs: Callable[[int], ExampleInputs]
    head: tuple[str, ...]
    couples: str
    """What in this architecture couples channels (what a pruner must get right), for reports."""


def _images(batch: int) -> ExampleInputs:
    return (torch.randn(batch, 3, IMAGE_SIDE, IMAGE_SIDE),)


def _tokens(batch: int) -> ExampleInputs:
    return (torch.randint(0, VOCAB_SIZE, (batch, SEQUENCE_LENGTH)),)


def _resnet() -> nn.Module:
    t = require_transformers()
    config = t.ResNetConfig(
        embedding_size=16,
        hidden_sizes=[16, 32],
        depths=[1, 1],
        layer_type="basic",
        num_labels=NUM_LABELS,
    )
    return t.ResNetForImageClassification(config)


def _mobilenet_v2() -> nn.Module:
    t = require_transformers()
    config = t.MobileNetV2Config(
        depth_multiplier=0.35, finegrained_output=False, image_size=IMAGE_SIDE, num_labels=NUM_LABELS
    )
    return t.MobileNetV2ForImageClassification(config)


def _vit() -> nn.Module:
    t = require_transformers()
    config = t.ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=IMAGE_SIDE,
        patch_size=8,
        num_labels=NUM_LABELS,
        attn_implementation="eager",
    )
    return t.ViTForImageClassification(config)


def _bert() -> nn.Module:
    t = require_transformers()
    config = t.BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=NUM_LABELS,
        attn_implementation="eager",
    )
    return t.BertForSequenceClassification(config)


def llama(**sizes: object) -> nn.Module:
    """A ``LlamaForCausalLM`` of the given sizes, without a key/value cache, with eager attention."""
    t = require_transformers()
    return t.LlamaForCausalLM(t.LlamaConfig(use_cache=False, attn_implementation="eager", **sizes))


def _llama_gqa() -> nn.Module:
    return llama(
        vocab_size=VOCAB_SIZE,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )


def _regnet() -> nn.Module:
    t = require_transformers()
    config = t.RegNetConfig(
        embedding_size=16,
        hidden_sizes=[16, 32],
        depths=[1, 1],
        groups_width=8,
        layer_type="x",
        num_labels=NUM_LABELS,
    )
    return t.RegNetForImageClassification(config)


def _mobilevit() -> nn.Module:
    t = require_transformers()
    config = t.MobileViTConfig(
        image_size=IMAGE_SIDE,
        patch_size=2,
        hidden_sizes=[16, 24, 32],
        neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64],
        num_attention_heads=2,
        num_labels=NUM_LABELS,
        attn_implementation="eager",
    )
    return t.MobileViTForImageClassification(config)


class Logits(nn.Module):
    """A ``transformers`` model whose forward returns its logits tensor alone.

    ``transformers`` models return a ``ModelOutput`` (a dict); ``return_dict=False`` in the config
    gives a tuple but breaks ViT's and Llama's forward in transformers 5.x (their inner model still
    returns a tuple that the head reads ``.last_hidden_state`` from). One tensor is what the
    pruned-model checks, ``torch.export`` and the latency measurements all take, so the zoo wraps
    each model: its modules are the real architecture's, under ``model.``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # one named input: torch.fx cannot trace *args
        return self.model(inputs).logits


ZOO: tuple[ZooModel, ...] = (
    ZooModel("resnet", _resnet, _images, ("model.classifier",), "residual adds, BatchNorm"),
    ZooModel("mobilenet_v2", _mobilenet_v2, _images, ("model.classifier",), "depthwise convolutions, residual adds"),
    ZooModel("vit", _vit, _images, ("model.classifier",), "attention heads, residual adds, LayerNorm"),
    ZooModel("bert", _bert, _tokens, ("model.classifier",), "attention heads, residual adds, embeddings, LayerNorm"),
    ZooModel("llama_gqa", _llama_gqa, _tokens, ("model.lm_head",), "grouped-query attention (4 heads, 2 kv), RMSNorm"),
    ZooModel("regnet", _regnet, _images, ("model.classifier",), "grouped convolutions (8 channels a group), residuals"),
    ZooModel("mobilevit", _mobilevit, _images, ("model.classifier",), "channel concatenation before a conv, attention"),
)
"""Every zoo model, in the order reports list them."""

ZOO_BY_NAME: dict[str, ZooModel] = {m.name: m for m in ZOO}


NORM_SPREAD = 0.1
"""Spread of the drawn normalisation parameters and statistics around their identity values."""


def _norm_like(module: nn.Module) -> bool:
    """A leaf module with a 1-D ``weight`` that is no Linear / Conv2d / Embedding: BatchNorm, LayerNorm, RMSNorm."""
    weight = getattr(module, "weight", None)
    layer = isinstance(module, (nn.Linear, nn.Conv2d, nn.Embedding))
    return not layer and isinstance(weight, nn.Parameter) and weight.dim() == 1 and not list(module.children())


@torch.no_grad()
def _draw_untrained_defaults(model: nn.Module) -> None:
    """Give every layer torch's default init and every normalisation random parameters and statistics.

    ``transformers`` initialises for training from scratch: biases 0, norms at identity (weight 1,
    bias 0, BatchNorm mean 0 / var 1) and weights of std 0.02, so a deep net's logits vanish (MobileNetV2's
    come out ~1e-33) and every check comparing outputs would pass whatever a pruner does. A trained model
    has nonzero biases and norm shifts, which is what bias folding and normalisation coupling must get
    right; so do these.
    """
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.Embedding)):
            module.reset_parameters()
        elif _norm_like(module):
            module.weight.copy_(1 + NORM_SPREAD * torch.randn_like(module.weight))
            if isinstance(getattr(module, "bias", None), nn.Parameter):
                module.bias.copy_(NORM_SPREAD * torch.randn_like(module.bias))
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            module.running_mean.copy_(NORM_SPREAD * torch.randn_like(module.running_mean))
            module.running_var.uniform_(1 - 5 * NORM_SPREAD, 1 + 5 * NORM_SPREAD)


def build_model(record: ZooModel, seed: int = 0) -> nn.Module:
    """The record's model (wrapped in ``Logits``) with weights drawn from ``seed``, in eval mode.

    Eval mode: dropout off and BatchNorm statistics frozen, so two forwards of one input agree.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Logits(record.build())
        _draw_untrained_defaults(model)
    return model.eval()


def example_inputs(record: ZooModel, batch: int = 2, seed: int = 0) -> ExampleInputs:
    """Positional inputs for the record's model, drawn from ``seed`` so two calls give the same tensors."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return record.example_inputs(batch)


def prunable_fqns(model: nn.Module, exclude: Sequence[str]) -> list[str]:
    """Every Linear / Conv2d outside the excluded modules (and their children), in module order."""

    def excluded(fqn: str) -> bool:
        return any(fqn == e or fqn.startswith(f"{e}.") for e in exclude)

    return [fqn for fqn, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES) and not excluded(fqn)]


def prunable_config(model: nn.Module, record: ZooModel) -> list[dict[str, Any]]:
    """The structured pruner's config: one entry per prunable layer's weight, the head left out."""
    config = [{"tensor_fqn": f"{fqn}.weight"} for fqn in prunable_fqns(model, record.head)]
    if not config:
        raise AssertionError(f"zoo model {record.name!r} has no Linear / Conv2d to prune outside {record.head}")
    return config


def model_output(model: nn.Module, inputs: ExampleInputs) -> torch.Tensor:
    """The model's logits for ``inputs``: the tensor compared before and after pruning."""
    output = model(*inputs)
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"{type(model).__name__} returned a {type(output).__name__}, not a logits tensor")
    return output
