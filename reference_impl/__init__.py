"""prunebench's reference implementation of the ``torch.ao.pruning`` contract, written from scratch.

Importable as a backend on its own (``--backend=reference_impl``): it exports every name of the
sparsifier and structured-pruner APIs, and the one-shot pruners SparseGPT, Wanda and magnitude.
"""

from __future__ import annotations

from .base_sparsifier import BaseSparsifier
from .fake_sparsity import FakeSparsity, FakeStructuredSparsity
from .magnitude_oneshot import OneShotMagnitudeSparsifier
from .nearly_diagonal_sparsifier import NearlyDiagonalSparsifier
from .sparsegpt import SparseGPTSparsifier
from .structured import (
    BaseStructuredSparsifier,
    FPGMPruner,
    LSTMSaliencyPruner,
    SaliencyPruner,
    UnsupportedChainError,
)
from .wanda_sparsifier import WandaSparsifier
from .weight_norm_sparsifier import WeightNormSparsifier

name = "reference"
version = "0.1.0"

__all__ = [
    "BaseSparsifier",
    "BaseStructuredSparsifier",
    "FPGMPruner",
    "FakeSparsity",
    "FakeStructuredSparsity",
    "LSTMSaliencyPruner",
    "NearlyDiagonalSparsifier",
    "OneShotMagnitudeSparsifier",
    "SaliencyPruner",
    "SparseGPTSparsifier",
    "UnsupportedChainError",
    "WandaSparsifier",
    "WeightNormSparsifier",
]
