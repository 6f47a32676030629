"""Helpers for running the conformance suites from inside the harness's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITES = Path(__file__).resolve().parent.parent / "suites"


def run_suites(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in-process on ``args`` (suite paths and options), without cache side effects."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)
