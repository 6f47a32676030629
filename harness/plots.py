"""PNG plots of results: latency against weight size per operation, and speedup bars per backend."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .results import Case, Results, cases_of


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series_label(case: Case) -> str:
    detail = case.params.get("pattern") or case.params.get("model") or ""
    return f"{case.backend} {detail}".strip()


def plot_latency_vs_size(cases: list[Case], directory: Path) -> list[Path]:
    """One PNG per (operation, device): median time against ``params.size``, a line per backend and pattern."""
    plt = _pyplot()
    groups: dict[tuple[str, str], dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        if "size" in case.params:
            groups[(case.operation, case.device)][_series_label(case)].append((case.params["size"], case.median))
    written = []
    for (operation, device), series in sorted(groups.items()):
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for label, points in sorted(series.items()):
            sizes, seconds = zip(*sorted(points), strict=True)
            axes.plot(sizes, [s * 1e3 for s in seconds], marker="o", label=label)
        axes.set(xscale="log", yscale="log", xlabel="weight side (N for an N x N Linear)", ylabel="median time (ms)")
        axes.set_title(f"{operation} on {device}")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=7)
        path = directory / f"latency_{operation}_{device}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def plot_speedups(cases: list[Case], baseline: str, directory: Path) -> list[Path]:
    """One PNG per device: for each case, baseline median / backend median (above 1 = faster)."""
    plt = _pyplot()
    by_device: dict[str, dict[str, dict[str, Case]]] = defaultdict(lambda: defaultdict(dict))
    for case in cases:
        by_device[case.device][case.id][case.backend] = case
    written = []
    for device, rows in sorted(by_device.items()):
        backends = sorted({b for row in rows.values() for b in row} - {baseline})
        ids = sorted(case_id for case_id, row in rows.items() if baseline in row and len(row) > 1)
        if not ids or not backends:
            continue
        figure, axes = plt.subplots(figsize=(8, max(3.0, 0.28 * len(ids) * len(backends))))
        height = 0.8 / len(backends)
        for offset, backend in enumerate(backends):
            values = [
                rows[i][baseline].median / rows[i][backend].median
                if backend in rows[i] and rows[i][backend].median
                else 0
                for i in ids
            ]
            axes.barh([n + offset * height for n in range(len(ids))], values, height=height, label=backend)
        axes.axvline(1.0, color="black", linewidth=0.8)
        axes.set_yticks([n + height * (len(backends) - 1) / 2 for n in range(len(ids))], ids, fontsize=6)
        axes.set_xscale("log")
        axes.set_xlabel(f"speedup over {baseline} (its median / backend median)")
        axes.legend(fontsize=7)
        figure.tight_layout()
        path = directory / f"speedup_vs_{baseline}_{device}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def plot_results(runs: list[Results], directory: str | Path, baseline: str) -> list[Path]:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    cases = cases_of(runs)
    return plot_latency_vs_size(cases, target) + plot_speedups(cases, baseline, target)
