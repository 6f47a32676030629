"""Regression comparison of two perf results files: which cases got slower or bigger beyond a threshold.

Noise-aware in the ways a two-file comparison can be: it compares medians (not means, which one
outlier moves), reports how many rounds each median rests on, flags a case whose baseline has fewer
than ``MIN_ROUNDS`` rounds as weak evidence, lets peak memory move within ``MEMORY_NOISE`` before
calling it a regression, and warns (``harness.comparability``) when the two runs come from different
CPUs or torch builds or from a busy machine, where a ratio measures the machines rather than the code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tabulate import tabulate

from .comparability import HARDWARE_KEYS, SOFTWARE_KEYS, busy_warnings, differences
from .errors import UsageError
from .results import Case, Results, ResultsError

MIN_ROUNDS = 3
MIB = 2**20


@dataclass(frozen=True)
class NoiseBand:
    """How far a number may move between identical runs: the larger of a fraction of it and a fixed amount."""

    fraction: float
    floor: int

    def allows(self, base: int, new: int) -> bool:
        return new - base <= max(self.fraction * base, self.floor)

    def describe(self) -> str:
        return f"max({self.fraction:.0%}, {self.floor / MIB:g} MiB)"


MEMORY_NOISE = NoiseBand(fraction=0.10, floor=1 * MIB)
"""Peak-memory growth within this band is never a regression, whatever the threshold (README, "compare")."""


def parse_threshold(text: str) -> float:
    """``"10%"`` or ``"10"`` -> 0.1: the threshold is always in percent; it must be a finite number > 0."""
    raw = text.strip().removesuffix("%").strip()
    try:
        percent = float(raw)
    except ValueError:
        raise UsageError(f"--threshold {text!r}: expected a percentage such as 10% (or 10, also percent)") from None
    if not math.isfinite(percent) or percent <= 0:
        raise UsageError(f"--threshold {text!r}: expected a percentage > 0 such as 10%")
    return percent / 100


def percent(fraction: float) -> str:
    """0.1 -> ``10%``; 0.005 -> ``0.5%``."""
    return f"{fraction * 100:g}%"


@dataclass(frozen=True)
class Change:
    """One case measured in both runs."""

    key: tuple[str, str, str]
    base: Case
    new: Case

    @property
    def time_ratio(self) -> float:
        return self.new.median / self.base.median if self.base.median > 0 else float("inf")

    @property
    def memory_ratio(self) -> float | None:
        base, new = self.base.peak_memory_bytes, self.new.peak_memory_bytes
        if base is None or new is None:
            return None
        return new / base if base > 0 else (1.0 if new == 0 else float("inf"))

    def regressed(self, threshold: float, memory_noise: NoiseBand = MEMORY_NOISE) -> list[str]:
        """What got worse beyond ``threshold``: time, and memory beyond both the threshold and the noise band."""
        what = []
        if self.time_ratio > 1 + threshold:
            what.append("time")
        base, new = self.base.peak_memory_bytes, self.new.peak_memory_bytes
        if base is not None and new is not None and new > base * (1 + threshold) and not memory_noise.allows(base, new):
            what.append("memory")
        return what


@dataclass
class Comparison:
    changes: list[Change]
    missing: list[tuple[str, str, str]]
    added: list[tuple[str, str, str]]
    threshold: float
    warnings: list[str]
    memory_noise: NoiseBand = MEMORY_NOISE

    @property
    def regressions(self) -> list[Change]:
        return [change for change in self.changes if change.regressed(self.threshold, self.memory_noise)]

    def _rows(self) -> list[list[str]]:
        rows = []
        for change in sorted(self.changes, key=lambda c: -c.time_ratio):
            memory = f"{change.memory_ratio:.3g}x" if change.memory_ratio is not None else "-"
            rounds = f"{change.base.stats['rounds']}/{change.new.stats['rounds']}"
            weak = " (few rounds)" if change.base.stats["rounds"] < MIN_ROUNDS else ""
            verdict = ", ".join(change.regressed(self.threshold, self.memory_noise)) or "ok"
            rows.append(
                [*(_flat(part) for part in change.key), f"{change.time_ratio:.3g}x", memory, rounds + weak, verdict]
            )
        return rows

    def render(self) -> str:
        headers = [
            "case",
            "backend",
            "device",
            "median time new/base",
            "peak mem new/base",
            "rounds base/new",
            "verdict",
        ]
        lines = [f"warning: {warning}" for warning in self.warnings]
        lines.append(tabulate(self._rows(), headers=headers, tablefmt="simple"))
        lines += [f"missing from new: {' '.join(map(_flat, key))}" for key in self.missing]
        lines += [f"new case: {' '.join(map(_flat, key))}" for key in self.added]
        count, limit = len(self.regressions), percent(self.threshold)
        band = f"peak memory within {self.memory_noise.describe()} of base is noise"
        lines.append(
            f"{count} regression(s) beyond {limit} in {len(self.changes)} compared case(s) ({band})"
            if count
            else f"no regression beyond {limit} in {len(self.changes)} compared case(s) ({band})"
        )
        return "\n".join(lines)


def _flat(text: str) -> str:
    """A backend's name or a case id on one line of terminal output: no newline can forge a verdict line."""
    return " ".join(text.split())


def comparability_warnings(base: Results, new: Results) -> list[str]:
    """Why the two runs' ratios may measure the machines rather than the code."""
    named = [("base", base), ("new", new)]
    return differences(named, HARDWARE_KEYS + SOFTWARE_KEYS) + busy_warnings([base, new])


def compare_results(base: Results, new: Results, threshold: float) -> Comparison:
    """Match cases by (id, backend, device); a comparison of nothing is an error, not a pass."""
    base_cases = {case.key(): case for case in base.cases}
    new_cases = {case.key(): case for case in new.cases}
    common = sorted(base_cases.keys() & new_cases.keys())
    if not common:
        raise ResultsError(
            f"{new.source or 'new'}: no case (id, backend, device) in common with {base.source or 'base'} "
            f"(base has {len(base_cases)} cases, new {len(new_cases)}): nothing to compare"
        )
    return Comparison(
        changes=[Change(key, base_cases[key], new_cases[key]) for key in common],
        missing=sorted(base_cases.keys() - new_cases.keys()),
        added=sorted(new_cases.keys() - base_cases.keys()),
        threshold=threshold,
        warnings=comparability_warnings(base, new),
    )
