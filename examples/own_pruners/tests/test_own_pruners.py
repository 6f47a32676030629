"""own_pruners validated from its own test suite: every generic check of prunebench, as plain pytest tests."""

from __future__ import annotations

from own_pruners import GradualMagnitudeSparsifier, L1FilterPruner, L1RowPruner, MagnitudeSparsifier

from prunebench import parametrize_with_checks


@parametrize_with_checks(
    [
        MagnitudeSparsifier,
        lambda: MagnitudeSparsifier(sparsity_level=0.75),
        GradualMagnitudeSparsifier,
        L1RowPruner,
        L1FilterPruner,
    ]
)
def test_prunebench_checks(subject, check):
    check(subject)
