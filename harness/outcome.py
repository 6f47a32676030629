"""A test's scoreboard outcome, derived once from its report's attributes.

Outcomes: ``passed``; ``failed`` (errors in setup or teardown count too); ``crashed`` (the worker
process died during the test: a segfault, ``os._exit``, the OOM killer); ``xfailed`` (an expected
failure declared as data); ``xpassed``; ``unsupported`` (the backend lacks what the test needs);
``not_applicable`` (the test means nothing for this backend); ``skipped`` (anything else).

Nothing here reads a message: *unsupported* and *not applicable* come from the harness's own
exceptions (:class:`~harness.errors.UnsupportedError`, :class:`~harness.errors.NotApplicableError`)
or the ``requires`` marker, which the plugin records on the report as ``prunebench_outcome``; a strict
expected failure that passed is recognised by the plugin (an xfail-marked call that raised nothing);
a crash is xdist's report for a dead worker, the one report whose phase is ``"???"``.
"""

from __future__ import annotations

import pytest

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
OUTCOME_ATTRIBUTE = "prunebench_outcome"
REASON_ATTRIBUTE = "prunebench_reason"
CRASHED_PHASE = "???"
"""The phase pytest-xdist gives the report it makes for a test whose worker process died."""


def is_crash(report: pytest.TestReport) -> bool:
    return report.when == CRASHED_PHASE


def outcome_of(report: pytest.TestReport) -> str | None:
    """The report's outcome, or None when this phase adds nothing (a passing setup or teardown).

    A strict expected failure that passed fails the run (pytest reports it as failed), but it is
    counted as *xpassed*: it means "fixed, update the expected-failures file", not "broken".
    """
    recorded = getattr(report, OUTCOME_ATTRIBUTE, None)
    if recorded is not None:
        return str(recorded)
    if is_crash(report):
        return "crashed"
    if report.failed:
        return "failed"
    if report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") else "skipped"
    if report.when == "call" and report.passed:
        return "xpassed" if hasattr(report, "wasxfail") else "passed"
    return None


def reason_of(report: pytest.TestReport, outcome: str) -> str | None:
    """Why the outcome happened, for the outcomes whose reasons the scoreboard lists."""
    if outcome == "xfailed":
        return getattr(report, "wasxfail", None)
    if outcome == "crashed":
        return str(report.longrepr).strip().splitlines()[0]
    if outcome in ("unsupported", "not_applicable", "skipped"):
        recorded = getattr(report, REASON_ATTRIBUTE, None)
        if recorded is not None:
            return str(recorded)
        longrepr = report.longrepr
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            return str(longrepr[2]).removeprefix("Skipped: ")
    return None
