"""``step()`` fails, and its expected-failures file then gains an entry for the failing test: a user declaring a
failure while the run is still going. The run's reruns must judge the failure by the declarations the run
started with (``harness.xfails_snapshot``), not call a plain bug "does not fail alone"."""

from __future__ import annotations

import os

from prunebench import reference_impl

from ._reference import *  # noqa: F403

name = "declares-mid-run"
XFAILS_ENV = "PRUNEBENCH_TEST_MID_RUN_XFAILS"
"""The expected-failures file this backend declares and appends to (a copy in the test's temporary directory)."""
xfails = os.environ.get(XFAILS_ENV)
DECLARED = "test_step.py::test_step_applies_update_mask[ | declared while the run was going\n"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if xfails:
            with open(xfails, "a", encoding="utf-8") as declarations:
                declarations.write(DECLARED)
        raise AssertionError("mask mismatch: step() never applied update_mask")
