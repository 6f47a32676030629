"""Regression comparison of two perf results files: which cases got slower or bigger beyond a threshold.

Noise-aware in the ways a two-file comparison can be: it compares medians (not means, which one
outlier moves), reports how many rounds each median rests on, flags a case whose baseline has fewer
than ``MIN_ROUNDS`` rounds as weak evidence, lets peak memory move within ``MEMORY_NOISE`` before
calling it a regression, and warns (``harness.comparability``) when the two runs come from different
CPUs or torch builds or from a busy machine, where a ratio measures the machines rather than the code.

On a shared machine the whole run drifts: two runs of the same code, hours apart, can differ well
beyond any useful threshold, every backend alike. ``relative_to`` (``--relative-to=torch``) judges each
case by its time over the same case of that backend *in the same run* (backends are interleaved case
by case, so drift cancels), the way the published tables state results; the yardstick's own cases and
the bandwidth floors (the same plain pass in every column) are then not judged, and a case the
yardstick lacks in either run is compared on its absolute time, said so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tabulate import tabulate

from .comparability import HARDWARE_KEYS, SOFTWARE_KEYS, busy_warnings, differences
from .errors import UsageError
from .floors import FLOOR_OPERATION
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
    base_yardstick: Case | None = None  # the same case of the ``relative_to`` backend, in each run
    new_yardstick: Case | None = None

    @property
    def relative(self) -> bool:
        return self.base_yardstick is not None and self.new_yardstick is not None

    @property
    def time_ratio(self) -> float:
        """New median over base median; relative: (new / its yardstick) over (base / its yardstick)."""
        new, base = self.new.median, self.base.median
        if self.relative:
            assert self.base_yardstick is not None and self.new_yardstick is not None  # for type checkers
            if self.new_yardstick.median <= 0 or self.base_yardstick.median <= 0:
                return float("inf")
            new, base = new / self.new_yardstick.median, base / self.base_yardstick.median
        return new / base if base > 0 else float("inf")

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
    relative_to: str | None = None

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
            line = [*(_flat(part) for part in change.key), f"{change.time_ratio:.3g}x", memory, rounds + weak, verdict]
            if self.relative_to is not None:
                line.insert(4, f"vs {_flat(self.relative_to)}" if change.relative else "absolute")
            rows.append(line)
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
        if self.relative_to is not None:
            headers.insert(4, "time measured")
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


def compare_results(base: Results, new: Results, threshold: float, relative_to: str | None = None) -> Comparison:
    """Match cases by (id, backend, device); a comparison of nothing is an error, not a pass.

    ``relative_to`` names a backend present in both runs: see the module docstring.
    """
    base_cases = {case.key(): case for case in base.cases}
    new_cases = {case.key(): case for case in new.cases}
    if relative_to is not None:
        for name, run in (("base", base), ("new", new)):
            backends = sorted({case.backend for case in run.cases})
            if relative_to not in backends:
                raise UsageError(
                    f"--relative-to {relative_to!r}: the {name} run ({run.source or name}) has no case of that "
                    f"backend; its backends are {backends}"
                )
    common = sorted(base_cases.keys() & new_cases.keys())
    if not common:
        raise ResultsError(
            f"{new.source or 'new'}: no case (id, backend, device) in common with {base.source or 'base'} "
            f"(base has {len(base_cases)} cases, new {len(new_cases)}): nothing to compare"
        )
    changes = []
    for key in common:
        if relative_to is None:
            changes.append(Change(key, base_cases[key], new_cases[key]))
        elif key[1] != relative_to and base_cases[key].operation != FLOOR_OPERATION:
            # the yardstick's own cases are what the others are measured by; a floor case times the same
            # plain pass in every column (the machine, not a backend), so relative to another it is noise
            yardstick = (key[0], relative_to, key[2])
            changes.append(
                Change(key, base_cases[key], new_cases[key], base_cases.get(yardstick), new_cases.get(yardstick))
            )
    comparison = Comparison(
        changes=changes,
        missing=sorted(base_cases.keys() - new_cases.keys()),
        added=sorted(new_cases.keys() - base_cases.keys()),
        threshold=threshold,
        warnings=comparability_warnings(base, new),
        relative_to=relative_to,
    )
    if not changes:  # every common case was the yardstick's or a floor: nothing was judged
        raise ResultsError(
            f"{new.source or 'new'}: no case other than {relative_to!r}'s own and the bandwidth floors in common "
            f"with {base.source or 'base'}: nothing to compare relative to {relative_to!r}"
        )
    return comparison
