"""Real configurations of three zoo architectures, for measuring what pruning buys at deployed sizes.

The tiny zoo (``models.ZOO``) is for checking pruners: its latencies are per-op overhead. These are
the published shapes, built in code with random weights like the tiny ones (nothing downloaded):

* ``resnet50``: ``transformers``' ``ResNetConfig()`` defaults, which are ResNet-50 (bottleneck blocks
  [3, 4, 6, 3], widths 256-2048), on 224x224 images, 1000 classes.
* ``bert_base``: ``BertConfig()`` defaults, which are BERT-base (12 layers, hidden 768, 12 heads,
  intermediate 3072, vocabulary 30522), on sequences of 128 tokens.
* ``llama_1b``: a decoder stack of Llama-3.2-1B's width (hidden 2048, intermediate 8192, 32 query and
  8 key/value heads of 64 dims, tied embeddings), 4 of its 16 layers and a quarter of its vocabulary
  (32000, Llama 2's), so that the unpruned embedding and head are the same share of the MACs (~19%)
  as in the whole model. Prompts of 128 tokens at batch 1; at batch 32, prompts of 16 tokens (512
  tokens a forward instead of 4096: one forward of the full-length batch takes minutes on 2 cores).

Only the configuration classes of ``transformers`` are used (stable across its versions).
"""

from __future__ import annotations

import torch
from torch import nn

from .models import ExampleInputs, ZooModel, llama, require_transformers

IMAGE_SIDE = 224
SEQUENCE_LENGTH = 128
IMAGENET_CLASSES = 1000
BERT_LABELS = 2
LLAMA_VOCAB = 32000
LLAMA_LAYERS = 4
LLAMA_BATCHED_SEQUENCE = 16
"""Tokens per prompt of the decoder at batches above 1 (see the module docstring)."""


def _images(batch: int) -> ExampleInputs:
    return (torch.randn(batch, 3, IMAGE_SIDE, IMAGE_SIDE),)


def _bert_tokens(batch: int) -> ExampleInputs:
    return (torch.randint(0, require_transformers().BertConfig().vocab_size, (batch, SEQUENCE_LENGTH)),)


def _llama_tokens(batch: int) -> ExampleInputs:
    sequence = SEQUENCE_LENGTH if batch == 1 else LLAMA_BATCHED_SEQUENCE
    return (torch.randint(0, LLAMA_VOCAB, (batch, sequence)),)


def _resnet50() -> nn.Module:
    t = require_transformers()
    return t.ResNetForImageClassification(t.ResNetConfig(num_labels=IMAGENET_CLASSES))


def _bert_base() -> nn.Module:
    t = require_transformers()
    return t.BertForSequenceClassification(t.BertConfig(num_labels=BERT_LABELS, attn_implementation="eager"))


def _llama_1b() -> nn.Module:
    return llama(
        vocab_size=LLAMA_VOCAB,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=LLAMA_LAYERS,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=64,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
    )


ZOO_FULL: tuple[ZooModel, ...] = (
    ZooModel("resnet50", _resnet50, _images, ("model.classifier",), "residual adds, BatchNorm; 224x224 images"),
    ZooModel("bert_base", _bert_base, _bert_tokens, ("model.classifier",), "attention heads, LayerNorm; 128 tokens"),
    ZooModel(
        "llama_1b",
        _llama_1b,
        _llama_tokens,
        ("model.lm_head",),
        "grouped-query attention (32 heads, 8 kv), RMSNorm; 128 tokens, 16 at batch 32",
    ),
)
"""The real-size models, in the order reports list them."""
