"""``prunebench run`` / ``check``: usage errors exit 4 with one line, before anything runs or is written."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from prunebench.harness.cli import main


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "not_a_directory"
    path.write_text("x")
    return path


def _status(args: list[str]) -> int:
    """``main``'s exit status, whether it returns it or argparse exits with it."""
    try:
        return main(args)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--backend="], "--backend is empty"),
        (["run", "--backend=,"], "--backend is empty"),
        (["run", "--suite=nope"], "invalid choice: 'nope'"),
        (["run", "--device=tpu"], "unknown ['tpu']"),
        (["run", "--dtype=int8"], "unknown ['int8']"),
        (["check", "own_pruners:MagnitudeSparsifier", "--device=tpu"], "unknown ['tpu']"),
    ],
    ids=["empty_backend", "comma_backend", "unknown_suite", "unknown_device", "unknown_dtype", "check_device"],
)
def test_usage_errors_exit_4(tmp_path, capsys, args, message):
    report = tmp_path / "report"
    status = _status([*args, f"--report={report}"])
    error = capsys.readouterr().err
    assert status == 4, error
    assert message in error, error
    assert not report.exists(), "a usage error left a report directory behind"


def test_argparse_errors_exit_4_too():
    run = subprocess.run(
        [sys.executable, "-m", "prunebench.harness.cli", "run", "--suite=nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 4 and "invalid choice" in run.stderr, run.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path; this machine has a GPU")
def test_cuda_without_gpu_says_why(tmp_path, capsys):
    assert main(["run", "--device=cuda", f"--report={tmp_path / 'r'}"]) == 4
    assert "cuda: torch" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_report_path_that_cannot_be_a_directory(a_file, capsys, where):
    target = a_file if where == "file" else a_file / "sub"
    assert main(["run", f"--report={target}"]) == 4
    assert "is a file, not a directory" in capsys.readouterr().err


def test_run_passes_k_and_extra_pytest_options(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "prunebench.harness.cli",
            "run",
            "--backend=reference",
            "-n=0",
            f"--report={tmp_path}",
            "-k",
            "test_step_applies_update_mask",
            "--",
            "--co",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    collected = [line for line in run.stdout.splitlines() if "test_step_applies_update_mask" in line]
    assert collected and "deselected" in run.stdout, run.stdout[-2000:]
