"""Runs across machines: merging their results files, and results that survive a run killed mid-write."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from prunebench.harness.cli import main
from prunebench.harness.errors import UsageError
from prunebench.harness.merge import merge_results
from prunebench.harness.results import Case, Results, load_results, write_results
from prunebench.harness.tables import render_table


def _machine(host: str, torch_version: str = "2.13.0", median: float = 0.01, device: str = "cpu") -> Results:
    stats = {"min": median, "median": median, "iqr": 0.0, "mean": median, "rounds": 5}
    cases = [Case("step[1024]", "reference", device, "step", {"size": 1024}, stats, 1 << 20)]
    environment = {"host": host, "torch": torch_version, "python": "3.11.9"}
    backends = [{"name": "reference", "version": "0.1.0", "source": "reference_impl"}]
    return Results(kind="perf", environment=environment, backends=backends, cases=cases)


def test_machines_with_different_devices_merge_without_conflict():
    outcome = merge_results([_machine("cpu-box"), _machine("gpu-box", device="cuda")])
    assert outcome.conflicts == []
    assert sorted(case.device for case in outcome.results.cases) == ["cpu", "cuda"]
    assert {case.extra["machine"] for case in outcome.results.cases} == {"cpu-box", "gpu-box"}
    assert "cuda time" in render_table([outcome.results], "md", "device", "cpu")


def test_same_case_on_two_machines_is_kept_twice_and_flagged():
    outcome = merge_results([_machine("box-a", median=0.01), _machine("box-b", median=0.03)])
    assert [c for c in outcome.conflicts if c.startswith("collision:")], outcome.conflicts
    assert sorted(case.device for case in outcome.results.cases) == ["cpu@box-a", "cpu@box-b"]
    table = render_table([outcome.results], "md", "device", "cpu@box-a")
    assert "3x" in table, table


def test_different_torch_versions_are_flagged():
    outcome = merge_results([_machine("box-a"), _machine("box-b", torch_version="2.12.0", device="cuda")])
    assert any("torch differs" in conflict and "2.12.0 (box-b)" in conflict for conflict in outcome.conflicts)


def test_merge_refuses_mixed_kinds_and_single_files():
    conformance = _machine("box-b")
    conformance.kind = "conformance"
    with pytest.raises(UsageError, match="different kinds"):
        merge_results([_machine("box-a"), conformance])
    with pytest.raises(UsageError, match="at least two"):
        merge_results([_machine("box-a")])


def test_merge_command_writes_file_and_strict_fails_on_conflict(tmp_path, capsys):
    a, b = write_results(_machine("box-a"), tmp_path / "a.json"), write_results(_machine("box-b"), tmp_path / "b.json")
    merged = tmp_path / "merged.json"
    assert main(["merge", str(a), str(b), "-o", str(merged)]) == 0
    assert len(load_results(merged).cases) == 2
    assert "warning: collision" in capsys.readouterr().err
    assert main(["merge", str(a), str(b), "-o", str(merged), "--strict"]) == 1


WRITER = textwrap.dedent(
    """
    import sys
    from prunebench.harness.results import Case, Results, write_results

    stats = {"min": 1.0, "median": 1.0, "iqr": 0.0, "mean": 1.0, "rounds": 1}
    generation = 0
    while True:  # rewrite a large results file until killed
        generation += 1
        cases = [Case(f"case{i}", "reference", "cpu", "step", {"generation": generation}, stats) for i in range(20000)]
        write_results(Results(kind="perf", environment={}, backends=[], cases=cases), sys.argv[1])
        print(generation, flush=True)
    """
)


@pytest.mark.parametrize("delay_s", [0.3, 0.9, 1.7], ids=["early", "mid", "late"])
def test_results_file_survives_a_killed_writer(tmp_path, delay_s):
    path = tmp_path / "results.json"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        process.stdout.readline()  # one complete file exists; the writer is now rewriting it
        time.sleep(delay_s)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    results = load_results(path)  # raises ResultsError on a torn file
    assert len(results.cases) == 20000
    generations = {case.params["generation"] for case in results.cases}
    assert len(generations) == 1, f"one file mixes generations {generations}"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "results.json"]
    assert all(name.startswith(".results.json.") and name.endswith(".tmp") for name in leftovers), leftovers
    json.loads(path.read_text())
