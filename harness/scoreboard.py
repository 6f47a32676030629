"""The conformance scoreboard: outcomes counted per backend and suite, rendered for the terminal.

Outcomes: ``passed``, ``failed`` (errors in setup or teardown count too), ``crashed`` (the worker
process died during the test: a segfault, ``os._exit``, the OOM killer), ``xfailed`` (an expected
failure declared as data), ``xpassed``, ``unsupported`` (the backend lacks what the test needs),
``not_applicable`` (the test means nothing for this backend, e.g. a differential check of the
reference against itself) and ``skipped`` (anything else, e.g. a device this machine does not have).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tabulate import tabulate

OUTCOMES: tuple[str, ...] = (
    "passed",
    "failed",
    "crashed",
    "xfailed",
    "xpassed",
    "unsupported",
    "not_applicable",
    "skipped",
)
UNSUPPORTED_MARK = "unsupported:"
NOT_APPLICABLE_MARK = "not applicable:"
CRASH_MARK = "crashed while running"
"""What pytest-xdist writes into the report it makes for a test whose worker process died."""


def suite_of(nodeid: str) -> str:
    """``suites/test_weight_norm.py::test_x[...]`` -> ``weight_norm``."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    stem = module.removesuffix(".py")
    return stem.removeprefix("test_")


def classify(
    when: str,
    outcome: str,
    skip_reason: str | None,
    wasxfail: bool,
    crashed: bool = False,
    strict_xpass: bool = False,
) -> str | None:
    """Map one pytest report phase to a scoreboard outcome, or None when the phase adds nothing.

    A strict expected failure that passed fails the run (pytest reports it as failed), but it is
    counted as *xpassed*: it means "fixed, update the expected-failures file", not "broken".
    """
    if outcome == "failed":
        if strict_xpass:
            return "xpassed"
        return "crashed" if crashed else "failed"
    if outcome == "skipped":
        if wasxfail:
            return "xfailed"
        if skip_reason and UNSUPPORTED_MARK in skip_reason:
            return "unsupported"
        return "not_applicable" if skip_reason and NOT_APPLICABLE_MARK in skip_reason else "skipped"
    if when == "call" and outcome == "passed":
        return "xpassed" if wasxfail else "passed"
    return None


@dataclass
class Scoreboard:
    """Counts by (backend, suite), plus the distinct reasons behind unsupported and xfailed outcomes."""

    counts: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))
    reasons: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def record(self, backend: str, suite: str, outcome: str, reason: str | None = None) -> None:
        self.counts[(backend, suite)][outcome] += 1
        if reason and outcome in ("unsupported", "not_applicable", "xfailed", "crashed"):
            self.reasons[(backend, outcome)].add(reason)

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
            lines += [f"  - {reason}" for reason in sorted(reasons)]
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
