"""Helpers for running the conformance suites from inside the harness's own tests."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from prunebench.harness.errors import BackendUnavailableError
from prunebench.harness.watchdog import WORKERS_ENV

SUITES = Path(__file__).resolve().parent.parent / "suites"


def environment_outside_xdist() -> dict[str, str]:
    """This process's environment without xdist's worker variables, for a child pytest that must time its
    cases (pytest-benchmark switches timing off in a worker; this test may itself run in one)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_XDIST")}


# The pytest runs these tests start (pytester's, in-process and in subprocesses) run their tests in their own
# process, as they always did: one xdist worker each (plain pytest's default, harness.watchdog) would cost
# seconds of start-up per run. The tests of that default remove this variable.
os.environ.setdefault(WORKERS_ENV, "0")

# pytester's in-process runs forget every module first imported inside them, so import here, once, what
# the suites import lazily: hypothesis (seconds to import, each run) and torch.distributed.tensor, which
# torch.testing.assert_close imports and which fails when imported twice (its TORCH_LIBRARY registers again).
# The generic checks train (an optimizer's first step imports torch._dynamo, which registers the
# torch._inductor.test_operators library): import that here too, for the same reason.
KEEP_IMPORTED = [
    "hypothesis",
    "prunebench.reference_impl",
    "matplotlib",
    "torch._dynamo",
    "torch._inductor.test_operators",
] + (["torch.distributed.tensor"] if torch.distributed.is_available() else [])
for _module in KEEP_IMPORTED:
    importlib.import_module(_module)
# torch.export imports and registers much on first use (the compiler's cache artifact types among it);
# exporting once here keeps the suites' export checks meaningful inside pytester's in-process runs.
torch.export.export(torch.nn.Linear(2, 2), (torch.ones(1, 2),))


def run_suites(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in-process on ``args`` (suite paths and options), without cache side effects."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)


def import_adapter(module_path: str) -> ModuleType | None:
    """An optional-library adapter imported now, at collection (pytester's in-process runs drop modules
    first imported inside them), or None when its library is not installed."""
    try:
        return importlib.import_module(module_path)
    except BackendUnavailableError:
        return None


def hide_library(monkeypatch: pytest.MonkeyPatch, library: str, adapter_module: str) -> None:
    """Make ``import <library>`` fail and forget the adapter, so that its next import runs afresh."""
    monkeypatch.setitem(sys.modules, library, None)
    monkeypatch.delitem(sys.modules, adapter_module, raising=False)


@pytest.hookimpl(tryfirst=True)  # before the plugin reads the marker into each test's suite label
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The harness's own tests are self-tests: the scoreboard lists them apart from the conformance suites."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.resolve().parents:
            item.add_marker(pytest.mark.prunebench_self_test)
