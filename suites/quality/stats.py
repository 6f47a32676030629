"""Mean and spread over seeds, and the one rule that calls two results different.

Every method of a seed prunes that seed's dense model, so two methods are compared seed by seed:
their per-seed differences are summarised, and the two differ only when the mean difference is
further from zero than the differences' standard deviation over seeds plus the metric's noise floor
(``Metric.noise_floor``: the smallest difference worth naming even when every seed agreed, e.g. two
of 397 test images). Pairing removes the seed-to-seed spread of the dense models themselves, which
would otherwise hide every difference smaller than it; the rule is descriptive ("beyond the seeds'
spread"), not a significance test: with three seeds, read a single "better" as a lead, not a proof.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BETTER = "better"
WORSE = "worse"
WITHIN = "within the spread"


@dataclass(frozen=True)
class Spread:
    """Mean and sample standard deviation (0 for one value) of one quantity over seeds."""

    mean: float
    std: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("a spread needs at least one value")
        finite = all(math.isfinite(v) for v in values)
        mean = statistics.fmean(values) if finite else float("nan")
        std = statistics.stdev(values) if len(values) > 1 and finite else 0.0
        return cls(mean, std, len(values))

    def format(self, decimals: int, unit: str = "") -> str:
        if not math.isfinite(self.mean):
            return "nan"
        return f"{self.mean:.{decimals}f} ± {self.std:.{decimals}f}{unit}"


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Spread | None:
    """``a - b`` seed by seed over the seeds both have, summarised; None when they share none."""
    seeds = sorted(set(a) & set(b))
    return Spread.of([a[seed] - b[seed] for seed in seeds]) if seeds else None


def verdict(a: Mapping[int, float], b: Mapping[int, float], higher_is_better: bool, noise_floor: float = 0.0) -> str:
    """``a`` against ``b`` (values per seed): ``BETTER``, ``WORSE`` or ``WITHIN`` (the spread).

    Different only when the mean of the per-seed differences is further from zero than their standard
    deviation plus ``noise_floor`` (NaN never differs).
    """
    difference = paired_difference(a, b)
    if difference is None or not math.isfinite(difference.mean):
        return WITHIN
    if abs(difference.mean) <= difference.std + noise_floor:
        return WITHIN
    return BETTER if (difference.mean > 0) == higher_is_better else WORSE
