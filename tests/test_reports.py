"""Tables and plots rendered from results files."""

from __future__ import annotations

import pytest
from prunebench.harness.errors import UsageError
from prunebench.harness.plots import plot_results
from prunebench.harness.results import Case, Results
from prunebench.harness.tables import FORMATS, render_table


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
    assert names == ["latency_step_cpu.png", "speedup_vs_torch_cpu.png"]
    assert all(path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG" for path in written)
