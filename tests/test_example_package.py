"""The tutorial's third-party package: installed by the README's set-up, validated end to end by the CLI."""

from __future__ import annotations

import json
import subprocess
import sys


def test_my_pruner_is_found_and_validated(tmp_path):
    backends = subprocess.run(
        [sys.executable, "-m", "prunebench.harness.cli", "backends"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "my_pruner" in backends.stdout, f"the example's entry point is not installed:\n{backends.stdout}"
    run = subprocess.run(
        [sys.executable, "-m", "prunebench.harness.cli", "run", "--backend=my_pruner", "-n=2", f"--report={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "prunebench scoreboard" in run.stdout and "my_pruner" in run.stdout
    cells = {
        cell["suite"]: cell for cell in json.loads((tmp_path / "conformance.json").read_text())["scoreboard"]["cells"]
    }
    assert cells["nearly_diagonal"]["passed"] > 0 and cells["nearly_diagonal"]["failed"] == 0, cells["nearly_diagonal"]
    assert cells["weight_norm"]["unsupported"] > 0 and cells["state_dict"]["xfailed"] == 2, cells
    assert (tmp_path / "scoreboard.md").exists() and not (tmp_path / "scoreboard.json").exists()
