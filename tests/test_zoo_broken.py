"""The zoo suite catches broken pruners, and reports itself unsupported without ``transformers``.

Each broken backend of ``tests/broken/_zoo_*.py`` (the reference with one bug in ``prune()``) runs the
one zoo check meant for its bug on ResNet at 0.3, which must fail with the check's own message; the
reference passes that same run (the control). The perf suite's zoo timing fails a backend whose
lifecycle raises on the model, rather than timing nothing.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from .conftest import SUITES, run_suites

ZOO_SUITE = str(SUITES / "zoo" / "test_zoo.py")
ZOO_PERF = str(SUITES / "perf" / "test_perf_zoo.py")


def _preload_zoo() -> None:
    """Build every zoo model once, now: pytester's in-process runs drop the modules first imported inside
    them, and a dropped ``transformers.models.*`` submodule breaks ``transformers``' lazy imports in the next run."""
    if importlib.util.find_spec("transformers") is not None:
        from prunebench.suites.zoo.models import ZOO, build_model

        for record in ZOO:
            build_model(record)


_preload_zoo()
ONE_CASE = "resnet-s0.3"

BROKEN = [
    ("_zoo_prune_removes_nothing", "test_zoo_parameters_drop", "removed nothing"),
    ("_zoo_pruned_frozen", "test_zoo_pruned_model_trains", "no parameter that requires grad"),
    ("_zoo_export_breaks", "test_zoo_pruned_model_exports", "fails on the pruned model but exports the dense one"),
    ("_zoo_pruned_differs", "test_zoo_pruned_equals_masked", "the pruned resnet against the masked one"),
]

needs_zoo = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="transformers is not installed (the zoo extra)"
)


def _run(pytester: pytest.Pytester, backend: str, test: str) -> pytest.RunResult:
    return run_suites(pytester, f"{ZOO_SUITE}::{test}", f"--backend={backend}", f"-k={ONE_CASE}")


@needs_zoo
@pytest.mark.parametrize(("module", "test", "symptom"), BROKEN, ids=[b[0] for b in BROKEN])
def test_zoo_catches_broken_backend(pytester, module: str, test: str, symptom: str):
    result = _run(pytester, f"tests.broken.{module}", test)
    output = result.stdout.str()
    assert result.parseoutcomes().get("failed", 0) == 1, f"{module} NOT caught by {test}:\n{output}"
    assert symptom in output, f"{module} failed {test}, but not with {symptom!r}:\n{output}"


@needs_zoo
@pytest.mark.parametrize("test", sorted({b[1] for b in BROKEN}))
def test_the_reference_passes_the_same_runs(pytester, test: str):
    result = _run(pytester, "reference", test)
    assert result.ret == 0 and result.parseoutcomes().get("passed", 0) == 1, (
        f"the reference fails {test}[{ONE_CASE}], so the broken copies failing it prove nothing:\n{result.stdout.str()}"
    )


def _run_zoo_perf(pytester: pytest.Pytester, backend: str) -> pytest.RunResult:
    """The zoo's prune() timing on ResNet, run once untimed (``--benchmark-disable``: pytester runs in-process)."""
    return run_suites(
        pytester,
        ZOO_PERF,
        f"--backend={backend}",
        "-k=resnet",
        "--perf-threads=1",
        "-p",
        "no:xdist",
        "--benchmark-disable",
    )


@needs_zoo
def test_zoo_perf_fails_a_backend_whose_prune_raises(pytester):
    result = _run_zoo_perf(pytester, "tests.broken._zoo_prune_needs_fx")
    output = result.stdout.str()
    assert result.parseoutcomes().get("failed", 0) == 1, f"_zoo_prune_needs_fx NOT caught by test_zoo_prune:\n{output}"
    assert "TraceError" in output, output


@needs_zoo
def test_the_reference_passes_the_zoo_perf_run(pytester):
    result = _run_zoo_perf(pytester, "reference")
    assert result.ret == 0 and result.parseoutcomes().get("passed", 0) == 1, result.stdout.str()


def test_zoo_is_unsupported_without_transformers(pytester, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    result = run_suites(pytester, ZOO_SUITE, "--backend=torch", f"-k={ONE_CASE}", "-rs")
    outcomes, output = result.parseoutcomes(), result.stdout.str()
    assert outcomes.get("passed", 0) == 0 and outcomes.get("failed", 0) == 0, output
    assert outcomes.get("skipped", 0) == 5, f"expected the 5 zoo checks of {ONE_CASE} unsupported:\n{output}"
    assert "unsupported: the zoo needs the 'transformers' library" in output, output
