"""The conformance scoreboard: outcomes (``harness.outcome``) counted per backend and suite, rendered."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tabulate import tabulate

from .outcome import OUTCOMES


@dataclass
class Scoreboard:
    """Counts by (backend, suite), plus the distinct reasons behind unsupported and xfailed outcomes, each
    with the number of tests it stands for (a reason is printed once, however many tests share it)."""

    counts: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))
    reasons: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))

    def record(self, backend: str, suite: str, outcome: str, reason: str | None = None) -> None:
        self.counts[(backend, suite)][outcome] += 1
        if reason and outcome in ("unsupported", "not_applicable", "xfailed", "crashed"):
            self.reasons[(backend, outcome)][reason] += 1

    def total(self, outcome: str) -> int:
        return sum(counter[outcome] for counter in self.counts.values())

    def backends_without_a_pass(self) -> list[str]:
        """Backends that ran tests and passed none: a run of only xfails or skips checks nothing of them."""
        backends = sorted({backend for backend, _ in self.counts})
        return [b for b in backends if not any(c["passed"] for (name, _), c in self.counts.items() if name == b)]

    def warnings(self) -> list[str]:
        return [
            f"backend {backend!r} passed no test: nothing of it was checked (every test failed, was an expected "
            "failure, unsupported or skipped)"
            for backend in self.backends_without_a_pass()
        ]

    def rows(self) -> list[list[object]]:
        rows = []
        for (backend, suite), counter in sorted(self.counts.items()):
            rows.append([backend, suite, *(counter[outcome] for outcome in OUTCOMES)])
        return rows

    def render(self) -> str:
        """A plain-text table, one row per backend and suite, then the reasons behind each outcome."""
        if not self.counts:
            return "no conformance tests ran"
        lines = [tabulate(self.rows(), headers=["backend", "suite", *OUTCOMES], tablefmt="simple")]
        lines += [f"\nwarning: {warning}" for warning in self.warnings()]
        for (backend, outcome), reasons in sorted(self.reasons.items()):
            lines.append(f"\n{backend} {outcome}:")
            lines += [
                f"  - {reason}" + (f" ({count} tests)" if count > 1 else "")
                for reason, count in sorted(reasons.items())
            ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "cells": [
                {"backend": backend, "suite": suite, **{o: counter[o] for o in OUTCOMES}}
                for (backend, suite), counter in sorted(self.counts.items())
            ],
            "reasons": [
                {"backend": backend, "outcome": outcome, "reasons": sorted(reasons)}
                for (backend, outcome), reasons in sorted(self.reasons.items())
            ],
        }
