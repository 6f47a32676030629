"""Tables and plots rendered from results files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prunebench.harness import plots
from prunebench.harness.errors import UsageError
from prunebench.harness.plots import plot_results
from prunebench.harness.results import Case, Results, write_results
from prunebench.harness.tables import FORMATS, render_table, table_rows


def _run() -> Results:
    def case(backend: str, median: float, size: int = 1024) -> Case:
        stats = {"min": median, "median": median, "iqr": 0.0, "mean": median, "rounds": 5}
        return Case(f"step[{size}]", backend, "cpu", "step", {"size": size, "pattern": "wn_1x4"}, stats, 4096)

    cases = [case("torch", 0.4), case("reference", 0.02), case("torch", 3.2, 4096), case("reference", 0.1, 4096)]
    return Results(kind="perf", environment={}, backends=[], cases=cases)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_renders_ratio_against_baseline(fmt):
    text = render_table([_run()], fmt, "backend", "torch")
    assert "reference / torch" in text and "0.05x" in text, text


def test_unknown_baseline_is_a_usage_error():
    with pytest.raises(UsageError, match="baseline 'tf'"):
        render_table([_run()], "md", "backend", "tf")


def test_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError, match="--format 'pdf'"):
        render_table([_run()], "pdf")


def test_plots_are_written(tmp_path):
    written = plot_results([_run()], tmp_path, "torch")
    names = sorted(path.name for path in written)
    assert names == ["latency_cpu.png", "speedup_vs_torch_cpu.png"]
    assert all(path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG" for path in written)


def _figures(monkeypatch: pytest.MonkeyPatch, runs: list[Results], tmp_path: Path, baselines: str = "torch") -> dict:
    """The figures ``plot_results`` draws, by file name, kept open to be looked at."""
    kept = {}

    def keep(plt, figure, path):
        kept[path.name] = figure
        return path

    monkeypatch.setattr(plots, "_save", keep)
    plot_results(runs, tmp_path, baselines)
    return kept


def _busy_run_with_floors() -> Results:
    run = _with_floors()
    busy = {"cpu_count": 2, "load_average_start": [3.7, 2.0, 1.0], "load_average_end": None, "wall_s": 9.0}
    run.environment = {"host": "vm", "cpu_model": "Xeon", "cpu_count": 2, "torch_threads": 2, "load": busy}
    run.environment["load"]["others_cpu_share"] = 0.0
    return run


def _assert_readable(figures: dict) -> None:
    """A panel per operation, whole group labels, a log axis with 1x drawn, no floor case as a bar, floors as
    lines over their own figure, the machine and load beneath, and a busy run's warning on top, in red."""
    assert sorted(figures) == ["latency_cpu.png", "speedup_vs_torch_cpu.png", "times_floor_cpu.png"]
    speedup = figures["speedup_vs_torch_cpu.png"]
    titles = sorted(axes.get_title() for axes in speedup.axes if axes.get_visible())
    assert titles == ["squash_mask", "step (sparsifiers)"], titles
    for axes in (axes for axes in speedup.axes if axes.get_visible()):
        labels = [label.get_text() for label in axes.get_xticklabels()]
        assert labels == ["WN 1x4 1024²"], labels  # whole, and no floor among them
        assert axes.get_yscale() == "log" and any(list(line.get_ydata()) == [1.0, 1.0] for line in axes.lines)
    heading = speedup._suptitle
    assert heading.get_text().startswith("Speedup over torch (cpu)\nWARNING:") and heading.get_color() == "darkred"
    assert "load average 3.7 on 2 cores" in heading.get_text()
    beneath = speedup._supxlabel.get_text()
    assert "vm: Xeon, 2 cores" in beneath and "default 2 threads" in beneath and "load average 3.7" in beneath
    floor_axes = [axes for axes in figures["times_floor_cpu.png"].axes if axes.get_visible()]
    assert [axes.get_title() for axes in floor_axes] == ["step", "squash_mask"]
    assert all(len(axes.patches) == 2 for axes in floor_axes), "one bar per backend; the floor is the 1x line"


def test_plots_are_compact_readable_and_say_where_they_were_measured(monkeypatch, tmp_path):
    _assert_readable(_figures(monkeypatch, [_busy_run_with_floors()], tmp_path))


def test_the_plot_check_catches_floors_drawn_as_speedups(monkeypatch, tmp_path):
    """The old plot's fault: the floor cases among the bars, as if they were speedups."""
    monkeypatch.setattr(plots, "FLOOR_OPERATION", "no floor is excluded")
    with pytest.raises(AssertionError):
        _assert_readable(_figures(monkeypatch, [_busy_run_with_floors()], tmp_path))


def test_a_quiet_run_has_no_warning_on_its_plots(monkeypatch, tmp_path):
    figures = _figures(monkeypatch, [_run()], tmp_path)
    assert all("WARNING" not in figure._suptitle.get_text() for figure in figures.values())


def _with_floors() -> Results:
    def case(backend: str, operation: str, median: float, **params) -> Case:
        stats = {"min": median, "median": median, "iqr": 0.0, "mean": median, "rounds": 5}
        name = params.get("pass_name", params.get("dtype", operation))
        return Case(f"{operation}[1024-{name}]", backend, "cpu", operation, {"size": 1024, **params}, stats, 4096)

    cases = [
        case("torch", "step", 0.8, pattern="wn_1x4"),
        case("reference", "step", 0.04, pattern="wn_1x4"),
        case("torch", "squash_mask", 0.6, pattern="wn_1x4"),
        case("reference", "squash_mask", 0.3, pattern="wn_1x4"),
        case("torch", "floor", 0.002, pass_name="read"),
        case("reference", "floor", 0.004, pass_name="read"),
        case("torch", "floor", 0.2, pass_name="multiply"),
        case("reference", "floor", 0.1, pass_name="multiply"),
        case("reference", "step", 0.5, pattern="wn_1x4", dtype="float16"),  # no float16 floor measured
    ]
    return Results(kind="perf", environment={}, backends=[], cases=cases)


def test_floor_columns_state_each_backend_against_its_own_floor():
    headers, rows = table_rows([_with_floors()], "backend", "torch")
    assert headers[4] == "torch / floor" and headers[-1] == "reference / floor"
    by_case = {row[0]: row for row in rows}
    assert by_case["step[1024-step]"][4] == "400x" and by_case["step[1024-step]"][-1] == "10x"  # / read
    assert by_case["squash_mask[1024-squash_mask]"][4] == "3x"  # / multiply, not / read
    assert by_case["squash_mask[1024-squash_mask]"][-1] == "3x"
    assert by_case["floor[1024-read]"][4] == "-"  # a floor is not measured against itself


def test_a_case_whose_floor_was_not_measured_shows_no_floor_ratio():
    by_case = {row[0]: row for row in table_rows([_with_floors()], "backend", "torch")[1]}
    assert by_case["step[1024-float16]"][-1] == "-"


def test_no_floor_columns_without_floor_cases():
    headers, _ = table_rows([_run()], "backend", "torch")
    assert not any("floor" in header for header in headers)


def _zoo_and_mlp() -> Results:
    def case(backend: str, case_id: str, median: float) -> Case:
        stats = {"min": median, "median": median, "iqr": 0.0, "mean": median, "rounds": 5}
        return Case(case_id, backend, "cpu", "prune", {"model": case_id}, stats, 4096)

    cases = [
        case("torch", "prune[mlp64]", 0.2),
        case("reference", "prune[mlp64]", 0.02),
        case("torch-pruning", "prune[mlp64]", 0.1),
        case("reference", "zoo_prune[resnet]", 0.3),  # torch cannot prune this model: no torch case
        case("torch-pruning", "zoo_prune[resnet]", 0.1),
        case("reference", "zoo_prune[llama]", 0.4),  # neither baseline can
    ]
    return Results(kind="perf", environment={}, backends=[], cases=cases)


def test_each_row_takes_the_first_baseline_it_has():
    headers, rows = table_rows([_zoo_and_mlp()], "backend", "torch,torch-pruning")
    assert headers[:3] == ["case", "device", "baseline"]
    ratio = {column: headers.index(f"{column} / baseline") for column in ("reference", "torch-pruning", "torch")}
    by_case = {row[0]: row for row in rows}
    mlp, resnet, llama = by_case["prune[mlp64]"], by_case["zoo_prune[resnet]"], by_case["zoo_prune[llama]"]
    assert mlp[2] == "torch" and mlp[ratio["reference"]] == "0.1x" and mlp[ratio["torch-pruning"]] == "0.5x"
    assert mlp[ratio["torch"]] == "-"  # the row's own baseline
    assert resnet[2] == "torch-pruning" and resnet[ratio["reference"]] == "3x"
    assert llama[2] == "-" and llama[ratio["reference"]] == "-"


def test_a_fallback_baseline_must_be_in_the_results():
    with pytest.raises(UsageError, match="'torch,tf'"):
        table_rows([_zoo_and_mlp()], "backend", "torch,tf")


def test_readme_summary_script_prints_ratios_and_floors_from_one_file(tmp_path):
    def case(backend: str, case_id: str, operation: str, median: float, **params) -> Case:
        stats = {"min": median, "median": median, "iqr": 0.0, "mean": median, "rounds": 5}
        return Case(case_id, backend, "cpu", operation, params, stats, 2 << 20)

    step = "sparsifier_operation[1024x1024-wn_1x4-step]"
    zoo = "zoo_prune[resnet]"
    cases = [
        case("torch", step, "step", 0.8, size=1024, pattern="wn_1x4", weight_bytes=4 << 20),
        case("reference", step, "step", 0.04, size=1024, pattern="wn_1x4", weight_bytes=4 << 20),
        case("reference", "bandwidth_floor[1024x1024-read]", "floor", 0.004, size=1024, pass_name="read"),
        case("reference", zoo, "zoo_prune", 0.3, model="resnet"),
        case("torch-pruning", zoo, "zoo_prune", 0.1, model="resnet"),
    ]
    path = write_results(Results(kind="perf", environment={}, backends=[], cases=cases), tmp_path / "perf.json")
    script = Path(__file__).resolve().parents[1] / "scripts" / "perf_summary.py"
    output = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, check=True)
    lines = output.stdout.splitlines()
    (step_line,) = [line for line in lines if line.startswith("| WN 1x4 `step` | 1024²")]
    assert "**0.050x**" in step_line and "| 10.0x |" in step_line and "| 0.50x |" in step_line, step_line
    (zoo_line,) = [line for line in lines if line.startswith("| resnet |")]
    assert "**3.000x**" in zoo_line, zoo_line


def test_readme_summary_script_prints_each_ratio_per_mode(tmp_path):
    """A run with modes: one row per case, its ratios at 1 thread / default threads / contended, worst rounds too."""

    def case(backend: str, mode: str, operation: str, median: float, worst: float, **params) -> Case:
        stats = {"min": median, "median": median, "max": worst, "iqr": 0.0, "mean": median, "rounds": 5}
        moded = {**params, "mode": mode, "threads": 1 if mode == "1thread" else 2, "contention": mode == "contended"}
        return Case(f"{operation}[{mode}]", backend, "cpu", operation, moded, stats, 2 << 20)

    step = {"size": 1024, "pattern": "wn_1x4", "weight_bytes": 4 << 20}
    timings = {"1thread": (0.04, 0.8), "threads": (0.03, 0.5), "contended": (0.05, 2.0)}
    cases = []
    for mode, (reference, torch_time) in timings.items():
        cases.append(case("reference", mode, "step", reference, 2 * reference, **step))
        cases.append(case("torch", mode, "step", torch_time, torch_time, **step))
        cases.append(case("reference", mode, "floor", 0.004, 0.004, size=1024, pass_name="read"))
    path = write_results(Results(kind="perf", environment={}, backends=[], cases=cases), tmp_path / "perf.json")
    script = Path(__file__).resolve().parents[1] / "scripts" / "perf_summary.py"
    output = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, check=True)
    lines = output.stdout.splitlines()
    assert lines[0].startswith("Each cell with several values: 1 thread / default threads / default threads, every")
    (step_line,) = [line for line in lines if line.startswith("| WN 1x4 `step` | 1024²")]
    assert "| **0.050x** / **0.060x** / **0.025x** |" in step_line, step_line
    assert "| 0.100x / 0.120x / 0.050x |" in step_line, step_line  # the worst rounds' ratio
    assert "| 10.0x / 7.5x / 12.5x |" in step_line, step_line  # each mode over its own floor
