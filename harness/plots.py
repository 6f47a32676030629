"""PNG plots of results a person can read: one figure per question, one panel per operation.

* ``speedup_vs_<baseline>_<device>.png``: how much faster than the baseline each backend is (its median over
  the backend's, log axis, 1x marked), cases grouped by pattern, size and dtype (or model), one bar per
  backend and perf mode (1 thread, default threads, busy cores). Bandwidth floors are no cases here.
* ``times_floor_<device>.png``: each backend's time as a multiple of its floor (one read of the weight for
  ``step``, one ``weight * mask`` for ``squash_mask``): the floor is the 1x line, issue #14's target a
  dashed one, never a bar.
* ``latency_<device>.png``: median time against the weight's side, a line per backend and pattern, the
  floor as a dashed line, at the default thread count (or the one mode measured).

Every figure says under its panels which machine, thread count and load measured it, and in red at its
top that the run was measured on a busy machine when the run recorded one (``comparability.busy_warnings``).
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from .comparability import busy_warnings, machine_environments
from .floors import FLOOR_OPERATION, FLOOR_PASS_OF, floor_cases, floor_of, times_floor
from .perf_modes import DEFAULT_THREADS, MODES
from .results import Case, Results, cases_of

PATTERN_LABELS = {
    "wn_unstructured": "WN 1x1",
    "wn_1x4": "WN 1x4",
    "wn_2of4": "WN 2:4",
    "nearly_diagonal": "NearlyDiagonal",
}
"""In the order groups are drawn."""
OPERATION_LABELS = {
    "prepare": "prepare",
    "step": "step",
    "squash_mask": "squash_mask",
    "prune": "prune()",
    "prune_depth": "prune()",
    "zoo_prune": "prepare + step + prune()",
    "inference_dense": "dense",
    "inference_masked": "masked",
    "inference_pruned": "pruned",
}
STRUCTURED_OPERATIONS = ("prepare", "step", "prune", "prune_depth")
DTYPE_ORDER = ("", "float32", "float16", "bfloat16")
FLOOR_TARGETS = {"step": 8.0, "squash_mask": 3.0}
"""Issue #14's targets, as multiples of the floor."""
FLOOR_NAMES = {"read": "one read of the weight", "multiply": "one weight * mask"}
BACKEND_STYLES = {"reference": "-", "torch": ":", "torch-pruning": "-."}
PANEL_WIDTH, PANEL_HEIGHT, COLUMNS = 7.5, 3.8, 2
CHARACTERS_PER_INCH = 13
"""Of a 10-point title line: longer warnings and captions wrap, so no word is cut off at the figure's edge."""
DPI = 110


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panel_of(case: Case) -> str:
    """The panel a case is drawn in: sparsifier operations one each, structured pruning, the zoo, inference."""
    operation = case.operation
    if "pattern" in case.params:
        return f"{operation} (sparsifiers)" if operation in ("step", "prepare") else operation
    if operation.startswith("inference_"):
        return "inference (structured models)"
    if operation == "zoo_prune":
        return "zoo: prepare + step + prune()"
    if operation in STRUCTURED_OPERATIONS:
        return "structured pruners"
    return operation


def case_label(case: Case) -> str:
    """What a group of bars is called, whole: ``WN 1x4 bfloat16 4096²``, ``prune() 64 layers``, ``mlp64 masked``."""
    params = case.params
    if "pattern" in params:
        parts = [PATTERN_LABELS.get(str(params["pattern"]), str(params["pattern"]))]
        parts += [str(params["dtype"])] if "dtype" in params else []
        return " ".join([*parts, f"{params['size']}²"] if "size" in params else parts)
    model = str(params.get("model", case.id))
    if case.operation == "prune_depth":
        return f"prune() {params.get('depth', model)} layers"
    if case.operation in STRUCTURED_OPERATIONS:
        return f"{OPERATION_LABELS[case.operation]} {model}"
    if case.operation.startswith("inference_"):
        return f"{model} {OPERATION_LABELS.get(case.operation, case.operation)}"
    return model


def _group_key(case: Case) -> tuple[object, ...]:
    """Groups in a reading order: by pattern (WN 1x1, 1x4, 2:4, NearlyDiagonal), dtype and size; by operation."""
    params = case.params
    patterns = list(PATTERN_LABELS)
    pattern = str(params.get("pattern", ""))
    dtype = str(params.get("dtype", ""))
    operations = list(OPERATION_LABELS)
    return (
        patterns.index(pattern) if pattern in patterns else len(patterns),
        DTYPE_ORDER.index(dtype) if dtype in DTYPE_ORDER else len(DTYPE_ORDER),
        params.get("size", 0),
        operations.index(case.operation) if case.operation in operations else len(operations),
        params.get("depth", 0),
        str(params.get("model", "")),
    )


def _operation_order(operation: str) -> int:
    order = list(OPERATION_LABELS)
    return order.index(operation) if operation in order else len(order)


def _times_axis(axes, axis: str = "y") -> None:
    """A log axis labelled in plain multiples (``0.1x``, ``1x``, ``10x``), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = axes.yaxis if axis == "y" else axes.xaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=30))
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    target.set_minor_formatter(NullFormatter())


def _mode_label(name: str | None) -> str:
    return MODES[name].label if name in MODES else "this run"


def _modes_in(cases: Iterable[Case]) -> list[str | None]:
    found = {case.mode for case in cases}
    return [name for name in MODES if name in found] + ([None] if None in found else [])


def caption(runs: list[Results]) -> str:
    """Which machine, thread count and load measured ``runs``: one line per machine."""
    lines = []
    for run in runs:
        for label, environment in machine_environments(run):
            load = environment.get("load") or {}
            start = (load.get("load_average_start") or [None])[0]
            share = load.get("others_cpu_share")
            parts = [
                f"{label}: {environment.get('cpu_model', '?')}, {environment.get('cpu_count', '?')} cores",
                f"torch {environment.get('torch', '?')}, default {environment.get('torch_threads', '?')} threads",
                f"load average {start} at the start" if start is not None else "load not recorded",
            ]
            parts += [f"other processes {share:.0%} of the CPU time"] if share is not None else []
            parts += [f"git {environment['git_revision']}"] if environment.get("git_revision") else []
            lines.append(", ".join(parts))
    return "\n".join(dict.fromkeys(lines))


def _figure(plt, panels: int, title: str, runs: list[Results]):
    """A grid of ``panels`` panels under ``title`` (and the busy-machine warnings, in red), the caption beneath."""
    rows = max(1, -(-panels // COLUMNS))
    columns = min(COLUMNS, max(1, panels))
    width = PANEL_WIDTH * columns
    figure, axes = plt.subplots(
        rows, columns, figsize=(width, PANEL_HEIGHT * rows + 1.4), squeeze=False, layout="constrained"
    )
    warnings = busy_warnings(runs)
    characters = int(width * CHARACTERS_PER_INCH)
    heading = "\n".join([title, *(textwrap.fill(f"WARNING: {warning}", characters) for warning in warnings)])
    figure.suptitle(heading, fontsize=10, color="darkred" if warnings else "black")
    lines = caption(runs).splitlines()
    figure.supxlabel("\n".join(textwrap.fill(line, int(characters * 1.2)) for line in lines), fontsize=8)
    for unused in axes.flat[panels:]:
        unused.set_visible(False)
    return figure, list(axes.flat[:panels])


def _save(plt, figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def _bars(axes, groups: list[str], series: dict[str, list[float | None]]) -> None:
    """Grouped bars: one group per label in ``groups``, one bar per series (None: no bar)."""
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        positions = [group + (index - (len(series) - 1) / 2) * width for group in range(len(groups))]
        shown = [(position, value) for position, value in zip(positions, values, strict=True) if value]
        if shown:
            axes.bar([p for p, _ in shown], [v for _, v in shown], width=width, label=name)
    axes.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=8)
    axes.set_yscale("log")
    _times_axis(axes)
    axes.grid(True, axis="y", which="both", alpha=0.3)


def plot_speedups(cases: list[Case], baselines: list[str], directory: Path, runs: list[Results]) -> list[Path]:
    """One figure per device: baseline median / backend median per case, a panel per operation."""
    plt = _pyplot()
    written = []
    for device in sorted({case.device for case in cases}):
        here = [case for case in cases if case.device == device and case.operation != FLOOR_OPERATION]
        cells: dict[str, dict[str, dict[tuple[str, str | None], Case]]] = defaultdict(lambda: defaultdict(dict))
        for case in here:
            cells[panel_of(case)][case_label(case)][(case.backend, case.mode)] = case
        backends = sorted({case.backend for case in here})
        modes = _modes_in(here)
        panels = {panel: groups for panel, groups in cells.items() if _has_ratio(groups, baselines)}
        if not panels:
            continue
        figure, axes_list = _figure(plt, len(panels), f"Speedup over {' or '.join(baselines)} ({device})", runs)
        for axes, (panel, groups) in zip(axes_list, sorted(panels.items()), strict=True):
            labels = [label for label in groups if _has_ratio({label: groups[label]}, baselines)]
            labels.sort(key=lambda label: _group_key(next(iter(groups[label].values()))))
            series = {}
            for backend in backends:
                for mode in modes:
                    values = [_speedup(groups[label], backend, mode, baselines) for label in labels]
                    if any(values):
                        series[f"{backend}, {_mode_label(mode)}"] = values
            _bars(axes, labels, series)
            axes.axhline(1.0, color="black", linewidth=1.0)
            axes.text(1.0, 1.0, " 1x", transform=axes.get_yaxis_transform(), va="center", fontsize=8)
            axes.set_title(panel, fontsize=10)
            axes.set_ylabel("speedup: baseline time / backend time", fontsize=8)
            axes.legend(fontsize=7)
        written.append(_save(plt, figure, directory / f"speedup_vs_{baselines[0]}_{device}.png"))
    return written


def _has_ratio(groups: dict[str, dict[tuple[str, str | None], Case]], baselines: list[str]) -> bool:
    """Whether any group has a backend besides its baseline, both measured in one mode (a bar to draw)."""
    return any(_speedup(row, backend, mode, baselines) for row in groups.values() for backend, mode in row)


def _row_baseline(row: dict[tuple[str, str | None], Case], baselines: list[str]) -> str | None:
    """The first of ``baselines`` that measured this group (the zoo has no torch case: Torch-Pruning's)."""
    return next((name for name in baselines if any(backend == name for backend, _ in row)), None)


def _speedup(row: dict[tuple[str, str | None], Case], backend: str, mode: str | None, baselines: list[str]):
    baseline = _row_baseline(row, baselines)
    case, base = row.get((backend, mode)), row.get((baseline, mode)) if baseline else None
    if baseline is None or backend == baseline or case is None or base is None or case.median <= 0:
        return None
    return base.median / case.median


def plot_floors(cases: list[Case], directory: Path, runs: list[Results]) -> list[Path]:
    """One figure per device: time over the floor per case, backend and mode; the floor and the target as lines."""
    plt = _pyplot()
    floors = floor_cases(cases)
    written = []
    for device in sorted({case.device for case in cases}):
        here = [case for case in cases if case.device == device and times_floor(case, floors) is not None]
        if not here:
            continue
        operations = sorted({case.operation for case in here}, key=_operation_order)
        figure, axes_list = _figure(plt, len(operations), f"Time over the memory-bandwidth floor ({device})", runs)
        for axes, operation in zip(axes_list, operations, strict=True):
            mine = [case for case in here if case.operation == operation]
            labels = sorted({case_label(case) for case in mine}, key=lambda label: _group_key(_first(mine, label)))
            series = {}
            for backend in sorted({case.backend for case in mine}):
                for mode in _modes_in(mine):
                    by_label = {case_label(c): c for c in mine if c.backend == backend and c.mode == mode}
                    values = [times_floor(by_label.get(label), floors) for label in labels]
                    if any(values):
                        series[f"{backend}, {_mode_label(mode)}"] = values
            _bars(axes, labels, series)
            floor_name = FLOOR_NAMES.get(FLOOR_PASS_OF.get(operation, ""), "the floor")
            axes.axhline(1.0, color="black", linewidth=1.0)
            axes.text(1.0, 1.0, f" 1x: {floor_name}", transform=axes.get_yaxis_transform(), va="center", fontsize=7)
            if operation in FLOOR_TARGETS:
                target = FLOOR_TARGETS[operation]
                axes.axhline(target, color="darkred", linestyle="--", linewidth=1.0)
                axes.text(1.0, target, f" target {target:g}x", transform=axes.get_yaxis_transform(), fontsize=7)
            axes.set_title(OPERATION_LABELS.get(operation, operation), fontsize=10)
            axes.set_ylabel("time / floor (same backend, mode)", fontsize=8)
            axes.legend(fontsize=7)
        written.append(_save(plt, figure, directory / f"times_floor_{device}.png"))
    return written


def _first(cases: list[Case], label: str) -> Case:
    return next(case for case in cases if case_label(case) == label)


def plot_latency_vs_size(cases: list[Case], directory: Path, runs: list[Results]) -> list[Path]:
    """One figure per device: median time against the weight's side, a panel per operation, the floor dashed."""
    plt = _pyplot()
    floors = floor_cases(cases)
    written = []
    for device in sorted({case.device for case in cases}):
        sized = [case for case in cases if case.device == device and isinstance(case.params.get("size"), int)]
        modes = _modes_in(sized)
        mode = DEFAULT_THREADS.name if DEFAULT_THREADS.name in modes else (modes[0] if modes else None)
        sized = [case for case in sized if case.mode == mode and "dtype" not in case.params]
        operations = sorted({case.operation for case in sized} - {FLOOR_OPERATION}, key=_operation_order)
        if not operations:
            continue
        title = f"Median time against weight size ({device}{f', {_mode_label(mode)}' if mode else ''})"
        figure, axes_list = _figure(plt, len(operations), title, runs)
        for axes, operation in zip(axes_list, operations, strict=True):
            lines: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
            floor_line: dict[int, float] = {}
            for case in (case for case in sized if case.operation == operation):
                lines[(case.backend, str(case.params.get("pattern", "")))].append((case.params["size"], case.median))
                floor = floor_of(case, floors)
                if floor is not None:
                    floor_line.setdefault(case.params["size"], floor.median)
            colors = {pattern: f"C{index}" for index, pattern in enumerate(PATTERN_LABELS)}
            for (backend, pattern), points in sorted(lines.items(), key=lambda item: (item[0][1], item[0][0])):
                sizes, times = zip(*sorted(points), strict=True)
                style = BACKEND_STYLES.get(backend, "--")
                label = f"{PATTERN_LABELS.get(pattern, pattern)}, {backend}"
                axes.plot(sizes, times, style, marker="o", color=colors.get(pattern), label=label)
            if floor_line:
                sizes = sorted(floor_line)
                name = FLOOR_NAMES.get(FLOOR_PASS_OF.get(operation, ""), "floor")
                axes.plot(sizes, [floor_line[s] for s in sizes], "k--", linewidth=2.0, label=f"floor: {name}")
            every_size = sorted({size for points in lines.values() for size, _ in points})
            axes.set(xscale="log", yscale="log", xlabel="N (an N x N Linear)", ylabel="median time")
            axes.set_xticks(every_size, [str(size) for size in every_size])
            axes.xaxis.set_minor_formatter(_null_formatter())
            axes.yaxis.set_major_formatter(_seconds_formatter())
            axes.set_title(OPERATION_LABELS.get(operation, operation), fontsize=10)
            axes.grid(True, which="both", alpha=0.3)
            axes.legend(fontsize=7, ncol=2)
        written.append(_save(plt, figure, directory / f"latency_{device}.png"))
    return written


def _null_formatter():
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def _seconds_formatter():
    from matplotlib.ticker import FuncFormatter

    from .tables import format_seconds

    return FuncFormatter(lambda value, _: format_seconds(value))


def plot_results(runs: list[Results], directory: str | Path, baselines: str | list[str]) -> list[Path]:
    """Every figure of ``runs`` into ``directory``; ``baselines`` in order of preference (a row takes the first
    it has, as tables do: the zoo against Torch-Pruning where torch has no case)."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    cases = cases_of(runs)
    preferred = [baselines] if isinstance(baselines, str) else list(baselines)
    return (
        plot_speedups(cases, preferred, target, runs)
        + plot_floors(cases, target, runs)
        + plot_latency_vs_size(cases, target, runs)
    )
