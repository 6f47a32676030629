"""Result tables: cases as rows, backends (or devices) as columns, ratios against a baseline column.

Cells show the median time and the peak memory; each non-baseline column gets a ratio column
(``time / baseline time``: below 1 is faster than the baseline). When a run was measured on a busy
machine (``harness.comparability.busy_warnings``) the table starts with a warning saying so, in the
format's own way of writing a note; CSV stays data only, its cells neutralised against formulas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from tabulate import tabulate

from .comparability import busy_warnings
from .errors import UsageError
from .escaping import csv_cell, html_text, markdown_inline
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


def table_rows(
    runs: Iterable[Results], pivot: str = "backend", baseline: str | None = None
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the pivot table (see the module docstring)."""
    if pivot not in PIVOTS:
        raise UsageError(f"--by {pivot!r}: expected one of {PIVOTS}")
    cells: dict[tuple[str, str], dict[str, Case]] = {}
    for case in cases_of(runs):
        cells.setdefault(_row_key(case, pivot), {})[getattr(case, pivot)] = case
    columns = sorted({column for row in cells.values() for column in row})
    if baseline is not None and baseline not in columns:
        raise UsageError(f"baseline {baseline!r} is not among the {pivot}s in these results: {columns}")
    baseline = baseline or (columns[0] if columns else None)
    others = [column for column in columns if column != baseline]
    headers = ["case", "device" if pivot == "backend" else "backend", f"{baseline} time", f"{baseline} peak mem"]
    for column in others:
        headers += [f"{column} time", f"{column} peak mem", f"{column} / {baseline}"]
    rows = []
    for (case_id, other), row in sorted(cells.items()):
        base = row.get(baseline)
        line = [case_id, other, _time(base), format_bytes(base.peak_memory_bytes) if base else "-"]
        for column in others:
            case = row.get(column)
            ratio = f"{case.median / base.median:.3g}x" if case and base and base.median > 0 else "-"
            line += [_time(case), format_bytes(case.peak_memory_bytes) if case else "-", ratio]
        rows.append(line)
    return headers, rows


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
