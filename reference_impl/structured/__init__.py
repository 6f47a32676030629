"""Structured pruning from scratch: row masks on Linear/Conv2d/LSTM and ``prune()`` removing them.

Behaves like ``torch.ao.pruning._experimental.pruner`` (same names and lifecycle) with an exact
contract torch lacks: the pruned model computes what the masked model did, for every chain
``prune()`` accepts, and any other chain is rejected before the model is touched.
"""

from __future__ import annotations

from ..fake_sparsity import FakeStructuredSparsity
from .base_structured_sparsifier import BaseStructuredSparsifier
from .bias import BiasHook
from .chains import UnsupportedChainError
from .fpgm_pruner import FPGMPruner
from .lstm_saliency_pruner import LSTMSaliencyPruner
from .saliency_pruner import SaliencyPruner

__all__ = [
    "BaseStructuredSparsifier",
    "BiasHook",
    "FPGMPruner",
    "FakeStructuredSparsity",
    "LSTMSaliencyPruner",
    "SaliencyPruner",
    "UnsupportedChainError",
]
