"""The quality suite's plots: quality against the compression reached, one shot and fine-tuned, per model.

Unstructured methods are drawn against the nonzero fraction of the configured weights they kept;
structured ones against the MACs and the parameters they kept (pruned / dense). The axes are what
was reached, not the level asked for, so libraries that read ``sparsity_level`` differently land
where their models really are. Error bars are one standard deviation over seeds; the grey band is the
dense model's mean ± std.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from prunebench.harness.atomic import write_bytes_atomic

from .check import STAGES
from .methods import FLOOR_BACKEND, STRUCTURED, UNSTRUCTURED
from .stats import Spread
from .summary import ONE_SHOT, ModelSummary, Row

Axis = Callable[[Row], Spread | None]
STRUCTURED_AXES: dict[str, Axis] = {
    "MACs kept (pruned / dense)": lambda r: r.macs,
    "parameters kept": lambda r: r.parameters,
}
UNSTRUCTURED_AXES: dict[str, Axis] = {"nonzero fraction of the configured weights": lambda r: r.kept_weights}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">")


def _points(rows: list[Row], axis: Axis, stage: str) -> list[tuple[Spread, Spread]]:
    value_of = STAGES[stage]
    pairs = [(axis(row), value_of(row)) for row in rows]
    return sorted(((x, y) for x, y in pairs if x is not None and y is not None), key=lambda p: p[0].mean)


def _series(summary: ModelSummary, structure: str) -> dict[str, list[Row]]:
    """method -> its rows of ``structure``, in grid order."""
    series: dict[str, list[Row]] = {}
    for row in summary.rows:
        if row.structure == structure:
            series.setdefault(row.method, []).append(row)
    return series


def _draw(axes, points: list[tuple[Spread, Spread]], style: dict[str, object]) -> None:
    if points:
        axes.errorbar(
            [x.mean for x, _ in points],
            [y.mean for _, y in points],
            xerr=[x.std for x, _ in points],
            yerr=[y.std for _, y in points],
            capsize=2,
            **style,
        )


def _panel(axes, summary: ModelSummary, structure: str, axis_name: str, axis: Axis, stage: str) -> None:
    """Levels joined by a line per method; N:M targets as stars of the method's colour, not on its line."""
    metric = summary.metric
    for index, (method, rows) in enumerate(_series(summary, structure).items()):
        colour, marker = f"C{index % 10}", MARKERS[index % len(MARKERS)]
        line = "--" if method.startswith(FLOOR_BACKEND) else "-"
        levels = [row for row in rows if ":" not in row.target]
        style = {"color": colour, "marker": marker, "markersize": 4, "linewidth": 1, "linestyle": line, "label": method}
        _draw(axes, _points(levels, axis, stage), style)
        n_m = [row for row in rows if ":" in row.target]
        _draw(axes, _points(n_m, axis, stage), {"color": colour, "marker": "*", "markersize": 9, "linestyle": "none"})
    dense = summary.dense if stage == ONE_SHOT else summary.dense_fine_tuned
    axes.axhline(dense.mean, color="black", linewidth=0.8, label="dense (band: ± std)")
    axes.axhspan(dense.mean - dense.std, dense.mean + dense.std, color="grey", alpha=0.3)
    axes.set_xlabel(axis_name)
    axes.set_ylabel(f"{metric.name}{' (%)' if metric.unit == '%' else ''}")
    title = f"{summary.model}: {structure}, {stage}" + (" (stars: 2:4)" if structure == UNSTRUCTURED else "")
    axes.set_title(title, fontsize=9)
    if not metric.higher_is_better:  # perplexity: ratios matter, and the floor's can be orders above dense
        from matplotlib.ticker import ScalarFormatter

        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(ScalarFormatter())
        axes.yaxis.set_minor_formatter(ScalarFormatter())
    axes.grid(True, alpha=0.3)


def plot_model(summary: ModelSummary, structure: str, directory: Path) -> Path | None:
    """One PNG per model and structure: a panel per stage (columns) and axis (rows); None when nothing ran."""
    axes_of = STRUCTURED_AXES if structure == STRUCTURED else UNSTRUCTURED_AXES
    rows = [row for rows in _series(summary, structure).values() for row in rows]
    if not any(_points(rows, axis, stage) for axis in axes_of.values() for stage in STAGES):
        return None
    plt = _pyplot()
    figure, grid = plt.subplots(len(axes_of), len(STAGES), figsize=(11, 4.2 * len(axes_of)), squeeze=False)
    for row_index, (axis_name, axis) in enumerate(axes_of.items()):
        for column, stage in enumerate(STAGES):
            _panel(grid[row_index][column], summary, structure, axis_name, axis, stage)
    handles, labels = grid[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, bbox_to_anchor=(0.5, -0.01))
    figure.tight_layout(rect=(0, 0.06 + 0.02 * (len(labels) // 4), 1, 1))
    image = io.BytesIO()
    figure.savefig(image, dpi=110, format="png")
    plt.close(figure)
    return write_bytes_atomic(directory / f"{summary.model}_{structure}.png", image.getvalue())


def plot_all(summaries: dict[str, ModelSummary], directory: Path) -> list[Path]:
    paths = [
        plot_model(s, structure, directory) for s in summaries.values() for structure in (UNSTRUCTURED, STRUCTURED)
    ]
    return [path for path in paths if path is not None]
