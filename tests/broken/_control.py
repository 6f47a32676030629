"""The control of differential runs: the reference's classes, unchanged, under a backend name of their own.

Differential checks against the reference itself are not applicable, so a broken backend's failure
there is compared with this correct twin, which the checks do run on (each class is a subclass, not
the reference's own class).
"""

from __future__ import annotations

from prunebench.harness.api import KNOWN_NAMES

from prunebench import reference_impl

name = "control"

BaseSparsifier = reference_impl.BaseSparsifier
BaseStructuredSparsifier = reference_impl.BaseStructuredSparsifier
FakeSparsity = reference_impl.FakeSparsity
FakeStructuredSparsity = reference_impl.FakeStructuredSparsity


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    """The reference rule, unchanged."""


class NearlyDiagonalSparsifier(reference_impl.NearlyDiagonalSparsifier):
    """The reference rule, unchanged."""


class WandaSparsifier(reference_impl.WandaSparsifier):
    """The reference rule, unchanged."""


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    """The reference rule, unchanged."""


class OneShotMagnitudeSparsifier(reference_impl.OneShotMagnitudeSparsifier):
    """The reference rule, unchanged."""


class SaliencyPruner(reference_impl.SaliencyPruner):
    """The reference rule, unchanged."""


class LSTMSaliencyPruner(reference_impl.LSTMSaliencyPruner):
    """The reference rule, unchanged."""


class FPGMPruner(reference_impl.FPGMPruner):
    """The reference rule, unchanged."""


__all__ = [api_name for api_name in KNOWN_NAMES if api_name in globals()]
