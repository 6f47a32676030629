"""The pytest plugin end to end: scoreboard, unsupported outcomes, expected failures, matrix, seeds."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from prunebench.harness.outcome import OUTCOMES

from .conftest import SUITES, run_suites

PARTIAL_BACKEND = textwrap.dedent(
    """
    from prunebench.reference_impl import BaseSparsifier, FakeSparsity
    name = "partial"
    """
)


def test_scoreboard_counts_unsupported_per_suite(pytester):
    pytester.makepyfile(partial_backend=PARTIAL_BACKEND)
    pytester.syspathinsert()
    result = run_suites(pytester, str(SUITES / "test_weight_norm.py"), "--backend=partial_backend")
    assert result.ret == 0, result.stdout.str()
    out = result.stdout.str()
    assert "prunebench scoreboard" in out, out
    row = next(line for line in out.splitlines() if line.startswith("partial") and "weight_norm" in line)
    counts = dict(zip(OUTCOMES, map(int, row.split()[2:]), strict=True))
    assert counts["passed"] == counts["failed"] == 0 and counts["unsupported"] > 100, row
    assert "backend 'partial' does not provide WeightNormSparsifier" in out, out


def test_results_json_is_written(pytester):
    path = pytester.path / "run.json"
    result = run_suites(pytester, str(SUITES / "test_step.py"), f"--results-json={path}")
    assert result.ret == 0, result.stdout.str()
    document = json.loads(path.read_text())
    records = document["records"]
    assert len(records) == 4 and {r["outcome"] for r in records} == {"passed"}, records
    assert all(r["cell"]["backend"] == "reference" and r["duration_s"] >= 0 for r in records), records
    cells = document["scoreboard"]["cells"]
    assert cells == [
        {
            "backend": "reference",
            "suite": "step",
            "passed": 4,
            "failed": 0,
            "crashed": 0,
            "xfailed": 0,
            "xpassed": 0,
            "unsupported": 0,
            "not_applicable": 0,
            "skipped": 0,
        }
    ]


def test_user_xfails_file_marks_failures_and_flags_xpass(pytester):
    xfails = pytester.path / "known.txt"
    xfails.write_text("# comment line\ntest_step.py::test_step_applies_update_mask[ | pretend bug, expected to fail\n")
    result = run_suites(pytester, str(SUITES / "test_step.py"), f"--xfails={xfails}", "-rX")
    assert result.ret == 1, "a strict expected failure that passes must fail the run"
    assert "XPASS(strict)" in result.stdout.str() and "pretend bug" in result.stdout.str()


def test_xfails_entry_for_missing_test_warns_stale(pytester):
    xfails = pytester.path / "stale.txt"
    xfails.write_text("test_step.py::test_renamed_long_ago[ | gone\n")
    result = run_suites(pytester, str(SUITES / "test_step.py"), f"--xfails={xfails}")
    assert "stale entry" in result.stdout.str(), result.stdout.str()


def test_malformed_xfails_file_is_a_usage_error(pytester):
    xfails = pytester.path / "bad.txt"
    xfails.write_text("test_step.py::test_x without a reason\n")
    result = run_suites(pytester, str(SUITES / "test_step.py"), f"--xfails={xfails}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "bad.txt:1: expected 'TEST_ID_PREFIX | reason'" in result.stderr.str()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path; this machine has a GPU")
def test_cuda_without_gpu_is_a_usage_error_saying_why(pytester):
    result = run_suites(pytester, str(SUITES / "test_step.py"), "--device=cpu,cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "asks for a device this machine cannot run: cuda: torch" in result.stderr.str(), result.stderr.str()


@pytest.mark.parametrize("value", ["", " ", ","], ids=["empty", "blank", "comma"])
def test_empty_backend_is_a_usage_error(pytester, monkeypatch, value):
    monkeypatch.setenv("PRUNEBENCH_BACKEND", "reference")  # an empty --backend must not fall back to it
    result = run_suites(pytester, str(SUITES / "test_step.py"), f"--backend={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "--backend is empty" in result.stderr.str(), result.stderr.str()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--device", "tpu", "choose from ['cpu', 'cuda']"), ("--dtype", "int8", "choose from ['float32'")],
)
def test_bad_matrix_values_are_usage_errors(pytester, option, value, message):
    result = run_suites(pytester, str(SUITES / "test_step.py"), f"{option}={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str(), result.stderr.str()


def test_ids_are_deterministic_strings(pytester):
    result = run_suites(pytester, str(SUITES / "test_squash_mask.py"), "--collect-only", "--dtype=float32,bfloat16")
    ids = [line for line in result.stdout.lines if "::" in line]
    assert ids and not any(" object at 0x" in line for line in ids), ids
    assert "test_squash_mask.py::test_sparse_params[reference-cpu-bfloat16-per_layer]" in result.stdout.str()


def test_failure_report_prints_the_seed(pytester):
    pytester.makepyfile(
        test_seeded="""
        import torch
        def test_random(backend):
            assert torch.rand(1).item() > 2, "forced failure"
        """
    )
    result = run_suites(pytester, "test_seeded.py", "--backend=reference")
    assert result.ret == 1
    assert "seed " in result.stdout.str() and "derived from the test id" in result.stdout.str()


def test_same_id_gets_same_random_numbers(pytester):
    pytester.makepyfile(
        test_draws="""
        import torch
        def test_draw(backend):
            print("DRAW", torch.rand(1).item())
        """
    )
    draws = [
        [
            line
            for line in run_suites(pytester, "test_draws.py", "-s", "--backend=reference").stdout.lines
            if line.startswith("DRAW")
        ]
        for _ in range(2)
    ]
    assert draws[0] and draws[0] == draws[1], draws


def test_pyargs_from_another_directory_keeps_xfails_suites_and_seeds(pytester):
    """``pytest --pyargs prunebench.suites`` outside the checkout: node ids carry no path, the plugin must not care."""
    report = pytester.path / "report"
    result = pytester.runpytest_subprocess(
        "--pyargs",
        "prunebench.suites.test_weight_norm",
        "--backend=torch",
        "-k=partial_blocks_with_zeros_per_block",
        f"--report-dir={report}",
        "-p",
        "no:cacheprovider",
    )
    output = result.stdout.str()
    assert result.ret == 0, output
    assert result.parseoutcomes().get("xfailed", 0) > 0, f"torch's declared bug was not applied:\n{output}"
    row = next(line for line in output.splitlines() if line.startswith("torch "))
    assert row.split()[1] == "weight_norm", f"suite column lost under --pyargs: {row}"


def test_every_backend_gets_the_same_inputs(pytester):
    pytester.makepyfile(
        conftest="",
        test_seeds="""
            import torch
            def test_draw(backend, device, dtype):
                print(f"DRAW {backend.name} {torch.rand(1).item()!r}")
        """,
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-s", "--backend=reference,torch")
    words = [line.split("DRAW", 1)[1].split() for line in result.stdout.lines if "DRAW" in line]
    draws = {name: value for name, value, *_ in words}
    assert set(draws) == {"reference", "torch"} and draws["reference"] == draws["torch"], draws
