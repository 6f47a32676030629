"""Measurement: the memory method sees a known allocation, timing stats, results schema, atomic writes."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from prunebench.harness.atomic import write_text_atomic
from prunebench.harness.benchmark_import import case_id
from prunebench.harness.compare import compare_results, parse_threshold
from prunebench.harness.errors import UsageError
from prunebench.harness.memory import _event_peak, _own_block_events, peak_memory_bytes
from prunebench.harness.results import SCHEMA, Case, Results, ResultsError, load_results, parse_results, write_results

MIB = 2**20


def test_cpu_peak_sees_a_known_allocation():
    def allocate() -> torch.Tensor:
        scratch = torch.ones(4 * MIB // 4)  # 4 MiB of float32, freed on return
        kept = torch.ones(2 * MIB // 4)  # 2 MiB, returned
        del scratch
        return kept

    peak = peak_memory_bytes(allocate, "cpu")
    assert 6 * MIB <= peak < 6 * MIB + 64 * 1024, f"peak {peak} B, expected 6 MiB (4 MiB scratch + 2 MiB kept)"


def test_cpu_peak_of_nothing_is_zero():
    assert peak_memory_bytes(lambda: None, "cpu") == 0


def test_cpu_peak_counts_a_temporary_an_op_frees_inside_itself():
    values = torch.rand(MIB // 4)  # 1 MiB; kthvalue copies it (and its indices) and frees them before returning
    peak = peak_memory_bytes(lambda: torch.kthvalue(values, 1000), "cpu")
    assert peak >= MIB, f"peak {peak} B: the copy kthvalue makes inside itself was not seen"


def test_cpu_peak_leaves_out_the_free_of_a_block_allocated_before_the_run():
    given: list[torch.Tensor] = []
    # Allocated under an earlier probe, so the allocator remembers its size and reports its free later.
    peak_memory_bytes(lambda: given.append(torch.ones(4 * MIB // 4)), "cpu")

    def replace() -> torch.Tensor:
        given.pop()  # frees the 4 MiB the run was given...
        return torch.ones(4 * MIB // 4)  # ...and allocates 4 MiB of its own

    peak = peak_memory_bytes(replace, "cpu")
    assert 4 * MIB <= peak < 4 * MIB + 64 * 1024, f"peak {peak} B, expected the 4 MiB the run allocated"


def test_own_block_events_pair_frees_with_allocations_by_address():
    events = [(1, 0xA, -8), (2, 0xB, 4), (3, 0xB, -4), (4, 0xC, 2), (5, 0xA, 6), (6, 0xA, -6)]
    assert _own_block_events(events) == [(2, 4), (3, -4), (4, 2), (5, 6), (6, -6)]


def test_probe_holds_the_garbage_collector_off_only_inside_the_run():
    inside: list[bool] = []
    assert gc.isenabled()
    peak_memory_bytes(lambda: inside.append(gc.isenabled()), "cpu")
    assert inside == [False] and gc.isenabled()


def test_event_peak_is_max_running_sum_in_time_order():
    assert _event_peak([(3, -5), (1, 5), (2, 10), (4, 2)]) == 15


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuda: no CUDA GPU is available on this machine")
def test_cuda_peak_sees_a_known_allocation():
    def allocate() -> torch.Tensor:
        return torch.ones(8 * MIB // 4, device="cuda")

    assert peak_memory_bytes(allocate, "cuda") == 8 * MIB


def _case(case_id: str, median: float, memory: int | None = 1000, rounds: int = 5) -> Case:
    stats = {"min": median * 0.9, "median": median, "iqr": median * 0.05, "mean": median, "rounds": rounds}
    return Case(case_id, "reference", "cpu", "step", {"size": 1024}, stats, memory)


def _results(*cases: Case) -> Results:
    return Results(
        kind="perf", environment={"torch": torch.__version__}, backends=[{"name": "reference"}], cases=list(cases)
    )


def test_results_round_trip(tmp_path):
    original = _results(_case("a", 0.01), _case("b", 0.02, memory=None))
    path = write_results(original, tmp_path / "run.json")
    loaded = load_results(path)
    assert [vars(c) for c in loaded.cases] == [vars(c) for c in original.cases]
    assert json.loads(path.read_text())["schema"] == SCHEMA


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema": "other"}', 'schema is "other"'),
        ('{"schema": "prunebench-results", "schema_version": 99}', "schema_version 99 is not supported"),
        ('{"schema": "prunebench-results", "schema_version": 1, "kind": "perf"}', "created is missing"),
        (
            '{"schema": "prunebench-results", "schema_version": 1, "kind": "perf", "created": "", "environment": {},'
            ' "backends": [], "cases": [{"id": "x"}]}',
            "cases[0] (x): backend is missing",
        ),
    ],
)
def test_malformed_results_are_clear_errors(text, message):
    with pytest.raises(ResultsError) as error:
        parse_results(text, "bad.json")
    assert "bad.json" in str(error.value) and message in str(error.value), str(error.value)


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "out.json"
    write_text_atomic(target, "old")
    write_text_atomic(target, "new contents")
    assert target.read_text() == "new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"], "temporary files were left behind"


def test_atomic_write_leaves_old_file_when_killed(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("complete old file")
    script = textwrap.dedent(
        f"""
        import os, harness.atomic as atomic
        real_replace = os.replace
        def die_before_replace(src, dst):
            os._exit(9)  # the process is killed between writing the temporary file and renaming it
        atomic.os.replace = die_before_replace
        atomic.write_text_atomic({str(target)!r}, "half" * 1000)
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert completed.returncode == 9
    assert target.read_text() == "complete old file", "a killed write corrupted the existing results file"


def test_compare_flags_an_injected_2x_slowdown(tmp_path):
    base = _results(_case("a", 0.010), _case("b", 0.020))
    slowed = _results(_case("a", 0.020), _case("b", 0.020))
    report = compare_results(base, slowed, parse_threshold("10%"))
    assert [change.key[0] for change in report.regressions] == ["a"]
    assert "1 regression(s) beyond 10%" in report.render()
    assert not compare_results(base, base, 0.1).regressions


def test_compare_flags_memory_growth():  # beyond the noise band: tests/test_results_validation.py
    report = compare_results(_results(_case("a", 0.01, memory=MIB)), _results(_case("a", 0.01, memory=3 * MIB)), 0.1)
    assert report.regressions and report.regressions[0].regressed(0.1) == ["memory"]


@pytest.mark.parametrize("text", ["abc", "-5%", "0"])
def test_bad_threshold(text):
    with pytest.raises(UsageError):
        parse_threshold(text)


def test_compare_cli_exit_codes(tmp_path):
    base = write_results(_results(_case("a", 0.010)), tmp_path / "base.json")
    same = write_results(_results(_case("a", 0.0101)), tmp_path / "same.json")
    slow = write_results(_results(_case("a", 0.020)), tmp_path / "slow.json")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run = [sys.executable, "-m", "prunebench.harness.cli", "compare"]
    ok = subprocess.run([*run, str(base), str(same)], capture_output=True, text=True, env=env, timeout=120)
    bad = subprocess.run(
        [*run, str(base), str(slow), "--threshold", "10%"], capture_output=True, text=True, env=env, timeout=120
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert bad.returncode == 1 and "2x" in bad.stdout and "time" in bad.stdout, bad.stdout + bad.stderr


def test_case_id_drops_backend_and_device():
    assert (
        case_id("suites/perf/test_p.py::test_step[torch-cuda-4096x4096-wn_1x4]", "torch", "cuda")
        == "step[4096x4096-wn_1x4]"
    )


def _backend_case(case_id: str, backend: str, median: float, operation: str = "step") -> Case:
    stats = {"min": median * 0.9, "median": median, "iqr": median * 0.05, "mean": median, "rounds": 5}
    return Case(case_id, backend, "cpu", operation, {"size": 1024}, stats, 1000)


def _two_backends(reference: dict[str, float], torch_times: dict[str, float]) -> Results:
    cases = [_backend_case(case_id, "reference", median) for case_id, median in reference.items()]
    cases += [_backend_case(case_id, "torch", median) for case_id, median in torch_times.items()]
    cases += [
        _backend_case("floor[read]", name, 0.001 * (2 if name == "torch" else 1), "floor")
        for name in ("reference", "torch")
    ]
    return Results(kind="perf", environment={}, backends=[], cases=cases)


def test_relative_compare_cancels_a_machine_that_got_slower_for_every_backend():
    base = _two_backends({"a": 0.01, "b": 0.02}, {"a": 0.1, "b": 0.2})
    drifted = _two_backends({"a": 0.02, "b": 0.04}, {"a": 0.2, "b": 0.4})  # everything 2x: the machine
    assert len(compare_results(base, drifted, 0.3).regressions) == 4
    relative = compare_results(base, drifted, 0.3, relative_to="torch")
    assert not relative.regressions
    assert sorted(change.key[0] for change in relative.changes) == ["a", "b"]  # not torch's, not the floor
    assert "vs torch" in relative.render()


def test_relative_compare_catches_the_backend_that_got_slower_under_drift():
    base = _two_backends({"a": 0.01, "b": 0.02}, {"a": 0.1, "b": 0.2})
    new = _two_backends({"a": 0.04, "b": 0.03}, {"a": 0.2, "b": 0.2})  # a: 4x while torch 2x; b: 1.5x alone
    regressed = compare_results(base, new, 0.3, relative_to="torch").regressions
    assert {change.key[0]: round(change.time_ratio, 3) for change in regressed} == {"a": 2.0, "b": 1.5}


def test_relative_compare_judges_a_case_without_yardstick_on_absolute_time():
    base = _two_backends({"a": 0.01, "zoo": 0.3}, {"a": 0.1})
    new = _two_backends({"a": 0.01, "zoo": 0.6}, {"a": 0.1})
    comparison = compare_results(base, new, 0.3, relative_to="torch")
    assert [change.key[0] for change in comparison.regressions] == ["zoo"]
    assert "absolute" in comparison.render()


def test_relative_compare_needs_the_yardstick_in_both_runs():
    base = _two_backends({"a": 0.01}, {"a": 0.1})
    with pytest.raises(UsageError, match=r"'tf'.*base run"):
        compare_results(base, base, 0.3, relative_to="tf")


def test_relative_compare_of_nothing_but_the_yardstick_is_an_error():
    only_torch = Results(
        kind="perf",
        environment={},
        backends=[],
        cases=[_backend_case("a", "torch", 0.1), _backend_case("b", "reference", 0.1)],
    )
    other = Results(
        kind="perf",
        environment={},
        backends=[],
        cases=[_backend_case("a", "torch", 0.1), _backend_case("c", "reference", 0.1)],
    )
    with pytest.raises(ResultsError, match="nothing to compare relative to 'torch'"):
        compare_results(only_torch, other, 0.3, relative_to="torch")


def test_relative_compare_of_a_case_whose_yardstick_one_run_lacks_is_absolute():
    base = _two_backends({"a": 0.01}, {"a": 0.1})
    new = _two_backends({"a": 0.02}, {})  # torch did not run "a" this time
    new.cases.append(_backend_case("b", "torch", 0.1))
    (change,) = compare_results(base, new, 0.3, relative_to="torch").changes
    assert not change.relative and change.time_ratio == pytest.approx(2.0)
