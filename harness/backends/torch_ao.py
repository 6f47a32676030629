"""The ``torch`` backend: ``torch.ao.pruning`` and its experimental structured pruner, unchanged."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.ao.pruning import BaseSparsifier, FakeSparsity, NearlyDiagonalSparsifier, WeightNormSparsifier
from torch.ao.pruning._experimental.pruner import (
    BaseStructuredSparsifier,
    FakeStructuredSparsity,
    FPGMPruner,
    LSTMSaliencyPruner,
    SaliencyPruner,
)

name = "torch"
version = torch.__version__
xfails = Path(__file__).with_name("torch_ao.xfails")
"""Known upstream bugs, as data: test-id prefixes with the reason and the upstream issue."""

__all__ = [
    "BaseSparsifier",
    "BaseStructuredSparsifier",
    "FPGMPruner",
    "FakeSparsity",
    "FakeStructuredSparsity",
    "LSTMSaliencyPruner",
    "NearlyDiagonalSparsifier",
    "SaliencyPruner",
    "WeightNormSparsifier",
]
