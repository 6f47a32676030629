"""Regression comparison of two results files: which cases got slower or bigger beyond a threshold.

Noise-aware in the ways a two-file comparison can be: it compares medians (not means, which one
outlier moves), reports how many rounds each median rests on, and flags a case whose baseline has
fewer than ``MIN_ROUNDS`` rounds as weak evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from tabulate import tabulate

from .errors import UsageError
from .results import Case, Results

MIN_ROUNDS = 3


def parse_threshold(text: str) -> float:
    """``"10%"`` or ``"0.1"`` -> 0.1; must be positive."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"--threshold {text!r}: expected a percentage such as 10% or a fraction such as 0.1") from None
    if value <= 0:
        raise UsageError(f"--threshold {text!r} must be positive")
    return value


@dataclass(frozen=True)
class Change:
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

    def regressed(self, threshold: float) -> list[str]:
        what = []
        if self.time_ratio > 1 + threshold:
            what.append("time")
        if self.memory_ratio is not None and self.memory_ratio > 1 + threshold:
            what.append("memory")
        return what


@dataclass
class Comparison:
    changes: list[Change]
    missing: list[tuple[str, str, str]]
    added: list[tuple[str, str, str]]
    threshold: float

    @property
    def regressions(self) -> list[Change]:
        return [change for change in self.changes if change.regressed(self.threshold)]

    def render(self) -> str:
        rows = []
        for change in sorted(self.changes, key=lambda c: -c.time_ratio):
            memory = f"{change.memory_ratio:.3g}x" if change.memory_ratio is not None else "-"
            rounds = f"{change.base.stats['rounds']}/{change.new.stats['rounds']}"
            weak = " (few rounds)" if change.base.stats["rounds"] < MIN_ROUNDS else ""
            verdict = ", ".join(change.regressed(self.threshold)) or "ok"
            rows.append([*change.key, f"{change.time_ratio:.3g}x", memory, rounds + weak, verdict])
        headers = [
            "case",
            "backend",
            "device",
            "median time new/base",
            "peak mem new/base",
            "rounds base/new",
            "verdict",
        ]
        lines = [tabulate(rows, headers=headers, tablefmt="simple")]
        lines += [f"missing from new: {' '.join(key)}" for key in self.missing]
        lines += [f"new case: {' '.join(key)}" for key in self.added]
        count = len(self.regressions)
        lines.append(
            f"{count} regression(s) beyond {self.threshold:.0%} in {len(self.changes)} compared case(s)"
            if count
            else f"no regression beyond {self.threshold:.0%} in {len(self.changes)} compared case(s)"
        )
        return "\n".join(lines)


def compare_results(base: Results, new: Results, threshold: float) -> Comparison:
    base_cases = {case.key(): case for case in base.cases}
    new_cases = {case.key(): case for case in new.cases}
    changes = [Change(key, base_cases[key], new_cases[key]) for key in sorted(base_cases.keys() & new_cases.keys())]
    return Comparison(
        changes=changes,
        missing=sorted(base_cases.keys() - new_cases.keys()),
        added=sorted(new_cases.keys() - base_cases.keys()),
        threshold=threshold,
    )
