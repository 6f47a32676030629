"""Same rule, different libraries: each method against a yardstick backend's method of the same rule.

Two methods of one rule at one target are compared like for like only when they reached the same
compression (the kept weights for unstructured rules, the MACs for structured ones, within
``EQUAL_COST``): then a difference beyond the seeds' spread (``stats.verdict``, seed by seed: both
pruned the same dense model) is the library's doing.
Where they reached different compression (Torch-Pruning removes coupled channels the reference keeps)
the comparison is printed but judged on the report's equal-cost plots instead, never counted here.

``problems`` is the check CI runs on a reduced grid: every method worse than the yardstick's same
rule, with its numbers, its rank among all methods at that target and the random floor beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .methods import FLOOR_BACKEND, STRUCTURED
from .protocol import FAILS, NOT_APPLICABLE
from .stats import WORSE, Spread, paired_difference, verdict
from .summary import FINE_TUNED, ONE_SHOT, ModelSummary, Row

STAGES: dict[str, Callable[[Row], Spread | None]] = {ONE_SHOT: lambda r: r.one_shot, FINE_TUNED: lambda r: r.fine_tuned}
"""Stage -> a row's quality there, over seeds."""
EQUAL_COST = 0.01
"""Two compression ratios within one percentage point of each other count as the same cost."""


def cost_of(row: Row) -> Spread | None:
    """The axis a row is compared on: kept weights (unstructured), MACs (structured)."""
    return row.macs if row.structure == STRUCTURED else row.kept_weights


def measured(row: Row) -> bool:
    return row.status not in (FAILS, NOT_APPLICABLE)


@dataclass(frozen=True)
class Comparison:
    """One method against the yardstick's method of the same rule, at one target and stage."""

    model: str
    target: str
    stage: str
    method: Row
    yardstick: Row
    value: Spread
    yardstick_value: Spread
    difference: Spread
    """Method minus yardstick, seed by seed."""
    verdict: str
    equal_cost: bool


def _equal_cost(a: Row, b: Row) -> bool:
    cost_a, cost_b = cost_of(a), cost_of(b)
    return cost_a is not None and cost_b is not None and abs(cost_a.mean - cost_b.mean) <= EQUAL_COST


def compare_to(summary: ModelSummary, yardstick: str) -> list[Comparison]:
    """Every measured method of another backend against ``yardstick``'s method of its rule, per target and stage."""
    metric = summary.metric
    comparisons = []
    for row in summary.rows:
        if row.backend in (yardstick, FLOOR_BACKEND) or not measured(row):
            continue
        base = next(
            (r for r in summary.rows if r.backend == yardstick and r.rule == row.rule and r.target == row.target), None
        )
        if base is None or not measured(base):
            continue
        for stage, value_of in STAGES.items():
            value, base_value = value_of(row), value_of(base)
            if value is None or base_value is None:
                continue
            ours, theirs = row.per_seed[stage], base.per_seed[stage]
            difference = paired_difference(ours, theirs)
            if difference is None:
                continue
            judged = verdict(ours, theirs, metric.higher_is_better, metric.noise_floor)
            comparisons.append(
                Comparison(
                    summary.model,
                    row.target,
                    stage,
                    row,
                    base,
                    value,
                    base_value,
                    difference,
                    judged,
                    _equal_cost(row, base),
                )
            )
    return comparisons


def ranking(summary: ModelSummary, structure: str, target: str, stage: str) -> list[tuple[Row, Spread]]:
    """Every measured method of ``structure`` at ``target``, worst first by mean quality at ``stage``.

    (``0.5`` is a level of both structures: a structured row never ranks among unstructured ones.)
    """
    value_of = STAGES[stage]
    here = [row for row in summary.rows if row.structure == structure and row.target == target and measured(row)]
    scored = [(row, value_of(row)) for row in here]
    scored = [(row, value) for row, value in scored if value is not None]
    sign = 1 if summary.metric.higher_is_better else -1
    return sorted(scored, key=lambda pair: sign * pair[1].mean)


def _rank_note(summary: ModelSummary, comparison: Comparison) -> str:
    ranked = ranking(summary, comparison.method.structure, comparison.target, comparison.stage)
    names = [row.method for row, _ in ranked]
    position = len(names) - names.index(comparison.method.method)
    note = f"ranked {position} of {len(names)}" + (" (worst)" if position == len(names) else "")
    fmt = summary.metric
    floors = [(row, value) for row, value in ranked if row.backend == FLOOR_BACKEND]
    ours = comparison.method.per_seed[comparison.stage]
    for row, value in floors:
        below = verdict(ours, row.per_seed[comparison.stage], fmt.higher_is_better, fmt.noise_floor) == WORSE
        note += f"; {'below' if below else 'not below'} {row.method} ({value.format(fmt.decimals, fmt.unit)})"
    return note


def describe(summary: ModelSummary, comparison: Comparison) -> str:
    fmt = summary.metric
    return (
        f"{summary.model} at {comparison.target}, {comparison.stage} {fmt.name}: {comparison.method.method} "
        f"{comparison.value.format(fmt.decimals, fmt.unit)} against {comparison.yardstick.method} "
        f"{comparison.yardstick_value.format(fmt.decimals, fmt.unit)} (difference seed by seed "
        f"{comparison.difference.format(fmt.decimals, fmt.unit)}): {comparison.verdict}"
    )


def problems(summary: ModelSummary, yardstick: str) -> list[str]:
    """Each method worse than ``yardstick``'s same rule at equal cost beyond the spread: numbers and rank."""
    return [
        f"{describe(summary, c)} beyond the seeds' spread (noise floor {summary.metric.noise_floor:g}); "
        f"{_rank_note(summary, c)}"
        for c in compare_to(summary, yardstick)
        if c.verdict == WORSE and c.equal_cost
    ]
