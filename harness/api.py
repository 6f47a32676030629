"""The names a backend may provide, grouped by the part of the ``torch.ao.pruning`` contract they serve."""

from __future__ import annotations

SPARSIFIER_API: tuple[str, ...] = (
    "BaseSparsifier",
    "FakeSparsity",
    "WeightNormSparsifier",
    "NearlyDiagonalSparsifier",
)
"""Element-wise sparsifiers: masks attached as parametrizations, squashed later."""

PRUNER_API: tuple[str, ...] = (
    "BaseStructuredSparsifier",
    "FakeStructuredSparsity",
    "SaliencyPruner",
    "LSTMSaliencyPruner",
    "FPGMPruner",
)
"""Structured pruners: row masks, then ``prune()`` physically removes rows and channels."""

API_NAMES: tuple[str, ...] = SPARSIFIER_API + PRUNER_API
"""The ``torch.ao.pruning`` contract: every name here is counted in a backend's coverage."""

ONESHOT_API: tuple[str, ...] = ("SparseGPTSparsifier", "OneShotMagnitudeSparsifier", "oneshot_pruners")
"""One-shot pruning (``harness.oneshot``): SparseGPT and one-shot magnitude as sparsifier classes (Wanda is
``WandaSparsifier``), and ``oneshot_pruners``, records of one-shot methods that are no such class."""

EXTRA_API: tuple[str, ...] = ("WandaSparsifier", *ONESHOT_API)
"""Optional names beyond the ``torch.ao.pruning`` contract: suites that need one say so with
``@pytest.mark.requires``; a backend without them is *unsupported* there, never less conformant."""

KNOWN_NAMES: tuple[str, ...] = API_NAMES + EXTRA_API
"""Every name a test may ask a backend for."""
