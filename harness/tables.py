"""Result tables: cases as rows, backends (or devices) as columns, ratios against a baseline column.

Cells show the median time, the worst round (when the run recorded it: a busy machine stretches the tail,
not the median) and the peak memory; each non-baseline column gets a ratio column
(``time / baseline time``: below 1 is faster than the baseline). When the run measured bandwidth
floors (``harness.floors``), every column also gets ``/ floor``: its time as a multiple of one plain
pass over the same weight, timed in that column (a ``step`` against one read, ``squash_mask``
against one ``weight * mask``), which says how close to the hardware each backend is. When a run was measured on a busy
machine (``harness.comparability.busy_warnings``) the table starts with a warning saying so, in the
format's own way of writing a note; CSV stays data only, its cells neutralised against formulas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from tabulate import tabulate

from .comparability import busy_warnings
from .errors import UsageError
from .escaping import csv_cell, html_text, markdown_inline
from .floors import FloorKey, floor_cases, times_floor
from .results import Case, Results, cases_of

FORMATS = {"md": "pipe", "github": "github", "html": "html", "latex": "latex", "csv": None}
PIVOTS = ("backend", "device")


def format_seconds(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def format_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} B"


def _row_key(case: Case, pivot: str) -> tuple[str, str]:
    other = case.device if pivot == "backend" else case.backend
    return (case.id, other)


def parse_baselines(text: str | None) -> list[str]:
    """``"torch,torch-pruning"`` -> ``["torch", "torch-pruning"]``: baselines in order of preference; none: []."""
    return [name.strip() for name in text.split(",")] if text else []


def table_rows(
    runs: Iterable[Results], pivot: str = "backend", baseline: str | None = None
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the pivot table (see the module docstring).

    ``baseline`` is one column, or several comma-separated in order of preference (``torch,torch-pruning``):
    each row is then measured against the first of them that has a case in it, named in a ``baseline``
    column, so a workload one baseline cannot run (torch on the zoo) still gets a ratio against another.
    """
    if pivot not in PIVOTS:
        raise UsageError(f"--by {pivot!r}: expected one of {PIVOTS}")
    cells: dict[tuple[str, str], dict[str, Case]] = {}
    cases = cases_of(runs)
    for case in cases:
        cells.setdefault(_row_key(case, pivot), {})[getattr(case, pivot)] = case
    floors = floor_cases(cases)
    with_floors = any(times_floor(case, floors) is not None for case in cases)
    shown = Shown(with_floors, any(case.worst is not None for case in cases))
    columns = sorted({column for row in cells.values() for column in row})
    preferred = parse_baselines(baseline) or columns[:1]
    missing = [name for name in preferred if name not in columns]
    if missing or not all(preferred):
        raise UsageError(f"baseline {baseline!r} is not among the {pivot}s in these results: {columns}")
    if len(preferred) > 1:
        return _rows_with_row_baselines(cells, columns, preferred, floors, shown, pivot)
    baseline = preferred[0] if preferred else None
    others = [column for column in columns if column != baseline]
    headers = ["case", "device" if pivot == "backend" else "backend", *shown.headers(str(baseline), None)]
    for column in others:
        headers += shown.headers(column, f"{column} / {baseline}")
    rows = []
    for (case_id, other), row in sorted(cells.items()):
        base = row.get(baseline)
        line = [case_id, other, *_column_cells(base, None, floors, shown)]
        for column in others:
            case = row.get(column)
            line += _column_cells(case, _ratio(median_ratio(case, base)), floors, shown)
        rows.append(line)
    return headers, rows


@dataclass(frozen=True)
class Shown:
    """Optional cells of each column: ``/ floor`` when the run measured floors, the worst round when it was recorded."""

    floors: bool
    worst: bool

    def headers(self, column: str, ratio: str | None) -> list[str]:
        """``column``'s headers: time, worst round, peak memory, the ratio (unless None), ``/ floor``."""
        headers = [f"{column} time", *([f"{column} worst"] if self.worst else []), f"{column} peak mem"]
        headers += [ratio] if ratio is not None else []
        return headers + ([f"{column} / floor"] if self.floors else [])


def _rows_with_row_baselines(
    cells: dict[tuple[str, str], dict[str, Case]],
    columns: list[str],
    preferred: list[str],
    floors: dict[FloorKey, Case],
    shown: Shown,
    pivot: str,
) -> tuple[list[str], list[list[str]]]:
    """Every column with a ``/ baseline`` ratio against the row's own baseline (the first of ``preferred`` in it)."""
    headers = ["case", "device" if pivot == "backend" else "backend", "baseline"]
    for column in columns:
        headers += shown.headers(column, f"{column} / baseline")
    rows = []
    for (case_id, other), row in sorted(cells.items()):
        name = next((candidate for candidate in preferred if candidate in row), None)
        base = row.get(name) if name else None
        line = [case_id, other, name or "-"]
        for column in columns:
            case = row.get(column)
            ratio = "-" if column == name else _ratio(median_ratio(case, base))
            line += _column_cells(case, ratio, floors, shown)
        rows.append(line)
    return headers, rows


def _column_cells(case: Case | None, ratio: str | None, floors: dict[FloorKey, Case], shown: Shown) -> list[str]:
    """One column's cells of a row, as ``Shown.headers`` names them."""
    cells = [_time(case)]
    cells += [format_seconds(case.worst) if case and case.worst is not None else "-"] if shown.worst else []
    cells += [format_bytes(case.peak_memory_bytes) if case else "-"]
    cells += [ratio] if ratio is not None else []
    cells += [_ratio(times_floor(case, floors))] if shown.floors else []
    return cells


def median_ratio(case: Case | None, base: Case | None) -> float | None:
    """``case``'s median over ``base``'s; None when either is missing or the base took no time."""
    return case.median / base.median if case and base and base.median > 0 else None


def _ratio(value: float | None) -> str:
    return f"{value:.3g}x" if value is not None else "-"


def _time(case: Case | None) -> str:
    return format_seconds(case.median) if case else "-"


def render_table(runs: Iterable[Results], fmt: str = "md", pivot: str = "backend", baseline: str | None = None) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {sorted(FORMATS)}")
    runs = list(runs)
    headers, rows = table_rows(runs, pivot, baseline)
    if FORMATS[fmt] is None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([csv_cell(cell) for cell in headers])
        writer.writerows([[csv_cell(cell) for cell in row] for row in rows])
        return buffer.getvalue()
    if fmt in ("md", "github"):  # tabulate's html and latex formats escape cells themselves
        headers = [markdown_inline(cell) for cell in headers]
        rows = [[markdown_inline(cell) if isinstance(cell, str) else cell for cell in row] for row in rows]
    notes = "".join(_note(warning, fmt) + "\n" for warning in busy_warnings(runs))
    return notes + tabulate(rows, headers=headers, tablefmt=FORMATS[fmt]) + "\n"


def _note(text: str, fmt: str) -> str:
    """A warning line ahead of the table, inert in ``fmt`` (a file name or host is not markup)."""
    if fmt == "html":
        return f"<p><strong>warning:</strong> {html_text(text)}</p>"
    if fmt == "latex":
        return "% warning: " + " ".join(text.split())
    return f"> **warning:** {markdown_inline(text)}\n"
