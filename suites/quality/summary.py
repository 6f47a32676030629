"""Cells into rows: one row per model x method x target, mean ± std over seeds, compression as ratios to dense.

Compression ratios are taken per seed against that seed's dense model (the same architecture, so
the same counts), then summarised like the quality. A method that failed on some seeds only keeps
the seeds it ran, and its row says which failed; one that failed on all is a row with its reason, a
failure's reason classified (``failures``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

from .costs import Compression
from .failures import classify
from .protocol import FAILS, NOT_APPLICABLE, OK, Cell, DenseRun, Grid, Place
from .stats import Spread
from .tasks import Metric

PARTLY_FAILS = "fails on some seeds"
ONE_SHOT = "one-shot"
FINE_TUNED = "fine-tuned"


@dataclass(frozen=True)
class Row(Place):
    """One method at one target on one model, over every seed it ran."""

    status: str
    reason: str
    one_shot: Spread | None = None
    fine_tuned: Spread | None = None
    kept_weights: Spread | None = None
    """Nonzero weights of the configured layers over the dense model's."""
    parameters: Spread | None = None
    macs: Spread | None = None
    per_seed: dict[str, dict[int, float]] = field(default_factory=dict)
    """Stage (``ONE_SHOT``, ``FINE_TUNED``) -> seed -> quality: what comparisons pair."""


@dataclass(frozen=True)
class ModelSummary:
    """Every row of one model, with its dense baseline."""

    model: str
    metric: Metric
    dense: Spread
    dense_fine_tuned: Spread
    """The dense model after the same fine-tuning budget as every method."""
    dense_runs: tuple[DenseRun, ...]
    rows: tuple[Row, ...]

    @property
    def dense_per_seed(self) -> dict[int, float]:
        return {d.seed: d.quality for d in self.dense_runs}

    def row(self, method: str, target: str) -> Row | None:
        return next((r for r in self.rows if r.method == method and r.target == target), None)

    def methods(self) -> list[str]:
        return list(dict.fromkeys(r.method for r in self.rows))


def _spread(cells: Sequence[Cell], value: Callable[[Cell], float | None]) -> Spread | None:
    values = [v for v in (value(c) for c in cells) if v is not None]
    return Spread.of(values) if values else None


def _ratio(cells: Sequence[Cell], dense: dict[int, Compression], count: Callable[[Compression], int]) -> Spread:
    return Spread.of([count(c.compression) / count(dense[c.seed]) for c in cells])


def _why(cell: Cell) -> str:
    """A cell's reason; a failure's with its classification (``failures.classify``)."""
    return classify(cell.backend, cell.rule, cell.reason) if cell.status == FAILS else cell.reason


def _reasons(cells: Sequence[Cell]) -> str:
    by_reason: dict[str, list[int]] = {}
    for cell in cells:
        by_reason.setdefault(_why(cell), []).append(cell.seed)
    return "; ".join(f"{why} (seeds {', '.join(map(str, seeds))})" for why, seeds in by_reason.items() if why)


def _row(cells: Sequence[Cell], dense: dict[int, Compression]) -> Row:
    first = cells[0]
    place = {item.name: getattr(first, item.name) for item in fields(Place)}  # every cell of the group shares it
    ran = [c for c in cells if c.status == OK]
    if not ran:
        status = NOT_APPLICABLE if all(c.status == NOT_APPLICABLE for c in cells) else FAILS
        reason = _why(first) if len({c.reason for c in cells}) == 1 else _reasons(cells)
        return Row(**place, status=status, reason=reason)
    status = OK if len(ran) == len(cells) else PARTLY_FAILS
    return Row(
        **place,
        status=status,
        reason=_reasons(cells),
        one_shot=_spread(ran, lambda c: c.one_shot),
        fine_tuned=_spread(ran, lambda c: c.fine_tuned),
        kept_weights=_ratio(ran, dense, lambda c: c.layer_weights),
        parameters=_ratio(ran, dense, lambda c: c.parameters),
        macs=_ratio(ran, dense, lambda c: c.macs),
        per_seed={
            ONE_SHOT: {c.seed: c.one_shot for c in ran if c.one_shot is not None},
            FINE_TUNED: {c.seed: c.fine_tuned for c in ran if c.fine_tuned is not None},
        },
    )


def summarize(grid: Grid, metrics: dict[str, Metric]) -> dict[str, ModelSummary]:
    """Per model (in the grid's order): the dense baseline over seeds and one row per method x target."""
    summaries = {}
    for model, metric in metrics.items():
        dense_runs = tuple(d for d in grid.dense if d.model == model)
        if not dense_runs:
            continue
        dense = {d.seed: d.compression for d in dense_runs}
        groups: dict[tuple[str, str], list[Cell]] = {}
        for cell in grid.cells:
            if cell.model == model:
                groups.setdefault((cell.method, cell.target), []).append(cell)
        rows = tuple(_row(cells, dense) for cells in groups.values())
        quality = Spread.of([d.quality for d in dense_runs])
        tuned = Spread.of([d.fine_tuned for d in dense_runs])
        summaries[model] = ModelSummary(model, metric, quality, tuned, dense_runs, rows)
    return summaries
