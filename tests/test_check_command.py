"""``prunebench check``: a user's own class validated by the generic checks, from the command line.

The correct classes of ``examples/own_pruners`` exit 0 with torch's inherited bugs declared, not
charged; each class of ``tests/user_classes.py`` carries one bug and must exit 1 with a reproduction.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prunebench.harness.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "prunebench.harness.cli", "check", *args, f"--report={tmp_path}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)


@pytest.mark.parametrize(
    "args",
    [
        ("own_pruners:MagnitudeSparsifier",),
        ("own_pruners:GradualMagnitudeSparsifier",),
        ("own_pruners:L1FilterPruner",),
    ],
    ids=["magnitude", "gradual", "cnn_filters"],
)
def test_correct_classes_pass_with_inherited_bugs_declared(tmp_path, args):
    """The default invocation: every generic check, every dtype, on the benches and chains the class prunes."""
    run = _check(tmp_path, *args)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "inherited from torch" in run.stdout, "torch's declared bugs were not attributed to torch"
    assert "failed 0" not in run.stdout and " passed" in run.stdout
    for dtype in ("float32", "float16", "bfloat16"):
        assert f"-{dtype}-" in (tmp_path / "conformance.json").read_text(), f"the default run checked no {dtype}"


def test_a_correct_class_passes_the_suites_of_the_rule_it_claims(tmp_path):
    """``--like``: the rule's suites and differential checks as well (float32 here; the dtypes are the
    default invocation's business above, and the suites run every dtype for the built-ins)."""
    run = _check(tmp_path, "own_pruners:L1RowPruner", "--like=SaliencyPruner", "--dtype=float32")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "inherited from torch" in run.stdout, "torch's declared bugs were not attributed to torch"
    document = (tmp_path / "conformance.json").read_text()
    assert "test_differential.py" in document and "test_structured_pruners.py" in document, "--like ran no rule suite"


@pytest.mark.parametrize(
    ("spec", "unsupported"),
    [
        ("tests.user_classes:KeywordSaliencyPruner --like=SaliencyPruner", None),
        ("tests.user_classes:KeywordWeightNormSparsifier --like=WeightNormSparsifier", "takes no 'norm'"),
    ],
    ids=["saliency_keywords", "weight_norm_keywords"],
)
def test_keyword_constructors_are_built_their_own_way(tmp_path, spec, unsupported):
    """A correct class with a plain keyword constructor under --like: the rule's suites build it by its own
    signature; what it cannot take is unsupported, said once, never a TypeError charged to it."""
    run = _check(tmp_path, *spec.split(), "--dtype=float32")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "TypeError" not in run.stdout, run.stdout[-4000:]
    if unsupported is not None:
        reasons = [line for line in run.stdout.splitlines() if unsupported in line]
        assert len(reasons) == 1 and "tests)" in reasons[0], f"the reason is not said once with its count: {reasons}"


@pytest.mark.parametrize(
    ("spec", "failing_checks"),
    [
        (
            "tests.user_classes:MagnitudeIgnoringTensorLevel",
            ("per_tensor_config_overrides_defaults", "step_reaches_sparsity_level"),
        ),
        (
            "tests.user_classes:L2RowPruner --like=SaliencyPruner",
            ("test_saliency_prunes_lowest_l1_rows", "test_saliency_masks_match_reference"),
        ),
        ("tests.user_classes:L1RowPrunerLastDimNorm -k=cnn", ("step_reaches_sparsity_level-cnn",)),
        (
            "tests.user_classes:FirstStepMasksSparsifier -k=step_depends_only_on_model_and_state",
            ("step_depends_only_on_model_and_state",),
        ),
        (
            "tests.user_classes:ModuleIdCacheSparsifier -k=step_depends_only_on_model_and_state",
            ("step_depends_only_on_model_and_state",),
        ),
        (
            "tests.user_classes:GradualCounterOutsideState -k=resumed_run_equals_uninterrupted",
            ("resumed_run_equals_uninterrupted",),
        ),
    ],
    ids=["ignores_per_tensor_level", "l2_claims_l1", "conv_norm_unflattened", "frozen_masks", "id_cache", "counter"],
)
def test_wrong_classes_fail_with_a_reproduction(tmp_path, spec, failing_checks):
    run = _check(tmp_path, *spec.split(), "--dtype=float32", "--reproduce=0")  # the rerun is done below
    assert run.returncode == 1, f"exit {run.returncode}\n{run.stdout[-4000:]}{run.stderr[-2000:]}"
    printed = [line for line in run.stdout.splitlines() if line.strip().startswith("python -m pytest")]
    assert printed and all("--device=cpu" in line for line in printed), printed[:3]
    assert all("--dtype=float32" in line for line in printed if "-float32" in line.split()[3]), printed[:3]
    failures = (tmp_path / "failures.md").read_text()
    for check in failing_checks:
        assert check in failures, f"{check} did not fail:\n{failures[:3000]}"
    command = next(line for line in failures.splitlines() if line.startswith("python -m pytest"))
    rerun = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert rerun.returncode == 1 and "1 failed" in rerun.stdout, f"the reproduction did not fail alone:\n{rerun.stdout}"


def test_half_precision_bug_fails_the_default_invocation(tmp_path):
    """No --dtype: a float32 mask in a bfloat16 or float16 model is caught without asking for half precision."""
    run = _check(tmp_path, "tests.user_classes:Float32MaskSparsifier", "-k=masks_are_binary")
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    failures = (tmp_path / "failures.md").read_text()
    assert "bfloat16-masks_are_binary" in failures and "float16-masks_are_binary" in failures, failures[:3000]
    assert "float32-masks_are_binary" not in failures, "the float32 mask was charged in float32 too"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("own_pruners",), "expected MODULE:CLASS"),
        (("own_pruners:NoSuchClass",), "has no attribute 'NoSuchClass'"),
        (("no_such_module:Cls",), "importing 'no_such_module'"),
        (("torch.nn:Linear",), "derives from neither BaseSparsifier nor BaseStructuredSparsifier"),
        (("own_pruners:MagnitudeSparsifier", "--kwargs=[1]"), "--kwargs must be a JSON object"),
        (("own_pruners:MagnitudeSparsifier", '--kwargs={"sparsity_level": 2}'), "cannot build MagnitudeSparsifier"),
        (("own_pruners:MagnitudeSparsifier", "--like=SaliencyPruner"), "is a structured pruner"),
        (("own_pruners:MagnitudeSparsifier", "--like=Nope"), "--like='Nope': expected one of"),
        (("own_pruners/magnitude.py:MagnitudeSparsifier",), "give its module's import name instead: magnitude:"),
        (
            ("tests.user_classes:AmountRowPruner", "--like=SaliencyPruner"),
            "cannot be built as the SaliencyPruner suites build it",
        ),
    ],
    ids=[
        "no_class",
        "missing_class",
        "missing_module",
        "not_a_pruner",
        "kwargs_not_object",
        "bad_kwargs",
        "wrong_kind_like",
        "unknown_like",
        "file_path",
        "like_unbuildable",
    ],
)
def test_usage_errors_exit_4_with_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(ROOT)
    status = main(["check", *args, f"--report={tmp_path / 'report'}"])
    error = capsys.readouterr().err
    assert status == 4, f"exit {status}: {error}"
    assert message in error and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "report").exists(), "a usage error left a report directory behind"
