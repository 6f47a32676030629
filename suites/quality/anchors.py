"""The papers' ordering, checked on the language model: reproduced, not reproduced, or not measured.

SparseGPT (Frantar & Alistarh, 2023) and Wanda (Sun et al., 2023) on LLaMA-2-7B, WikiText-2 perplexity,
one shot: dense 5.12; 50% unstructured magnitude 14.89, SparseGPT 6.51, Wanda 6.42; 2:4 magnitude 54.59,
SparseGPT 10.17, Wanda 11.02. Three claims follow, each checked here one shot (the papers' setting)
with the suite's rule for a difference (seed by seed, beyond the spread and the noise floor):

1. an activation-aware rule (every ``Rule.calibrated`` method: Wanda, SparseGPT when a backend has it)
   loses less than magnitude at 50%;
2. it loses *much* less at 2:4: its perplexity increase over dense at most ``MUCH_LESS`` of magnitude's
   (the papers: Wanda's +5.9 against magnitude's +49.5);
3. 2:4 loses more than 50% unstructured, for every rule.

A claim the numbers do not support is stated as not reproduced, with the numbers; none is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from .check import measured
from .stats import BETTER, WORSE, Spread, paired_difference, verdict
from .summary import ONE_SHOT, ModelSummary, Row

HALF = "0.5"
TWO_OF_FOUR = "2:4"
MUCH_LESS = 0.5
""""Much less": the activation-aware rule's increase over dense is at most half of magnitude's."""
MAGNITUDE = "magnitude"
YARDSTICK_BACKENDS = ("reference", "torch")
"""Whose magnitude the claims use: the reference's, else torch's (they compute the same masks)."""
REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Claim:
    """One ordering of the papers' table, and what this run says about it."""

    claim: str
    outcome: str
    evidence: str


def _row(summary: ModelSummary, method: str, target: str) -> Row | None:
    row = summary.row(method, target)
    return row if row is not None and measured(row) and row.one_shot is not None else None


def _magnitude(summary: ModelSummary) -> str | None:
    for backend in YARDSTICK_BACKENDS:
        name = f"{backend} {MAGNITUDE}"
        if any(r.method == name for r in summary.rows):
            return name
    return None


def _fmt(summary: ModelSummary, value: Spread) -> str:
    return value.format(summary.metric.decimals, summary.metric.unit)


def _judge(summary: ModelSummary, a: Row, b: Row) -> str:
    """``a`` against ``b`` one shot, seed by seed (``stats.verdict``)."""
    metric = summary.metric
    return verdict(a.per_seed[ONE_SHOT], b.per_seed[ONE_SHOT], metric.higher_is_better, metric.noise_floor)


def _difference(summary: ModelSummary, a: Row, b: Row) -> str:
    difference = paired_difference(a.per_seed[ONE_SHOT], b.per_seed[ONE_SHOT])
    return "" if difference is None else f" (difference seed by seed {_fmt(summary, difference)})"


def _less_than_magnitude(summary: ModelSummary, method: str, magnitude: str, target: str, much: bool) -> Claim:
    strength = "much less" if much else "less"
    claim = f"{method} loses {strength} than {magnitude} at {target}"
    ours, theirs = _row(summary, method, target), _row(summary, magnitude, target)
    if ours is None or theirs is None:
        return Claim(claim, NOT_MEASURED, f"no one-shot result for {method if ours is None else magnitude} at {target}")
    evidence = (
        f"{_fmt(summary, ours.one_shot)} against {_fmt(summary, theirs.one_shot)}{_difference(summary, ours, theirs)}; "
        f"dense {_fmt(summary, summary.dense)}"
    )
    judged = _judge(summary, ours, theirs)
    evidence += f"; {method} against {magnitude}: {judged}"
    holds = judged == BETTER
    if much:
        dense = summary.dense.mean
        increase, magnitude_increase = abs(ours.one_shot.mean - dense), abs(theirs.one_shot.mean - dense)
        evidence += f"; loss against dense {increase:.2f} for {method}, {magnitude_increase:.2f} for {magnitude}"
        holds = holds and increase <= MUCH_LESS * magnitude_increase
    return Claim(claim, REPRODUCED if holds else NOT_REPRODUCED, evidence)


def _two_of_four_loses_more(summary: ModelSummary, method: str) -> Claim:
    claim = f"{method}: 2:4 loses more than 50% unstructured"
    half, nm = _row(summary, method, HALF), _row(summary, method, TWO_OF_FOUR)
    if half is None or nm is None:
        return Claim(claim, NOT_MEASURED, f"no one-shot result for {method} at {HALF if half is None else TWO_OF_FOUR}")
    judged = _judge(summary, nm, half)
    evidence = f"2:4 {_fmt(summary, nm.one_shot)}, 50% {_fmt(summary, half.one_shot)}{_difference(summary, nm, half)}"
    evidence += f"; 2:4 against 50%: {judged}"
    holds = judged == WORSE
    return Claim(claim, REPRODUCED if holds else NOT_REPRODUCED, evidence)


def _calibrated(summary: ModelSummary, calibrated_rules: set[str]) -> list[Row]:
    return [r for r in summary.rows if r.rule in calibrated_rules and r.target == HALF]


def check_anchors(summary: ModelSummary, calibrated_rules: set[str]) -> list[Claim]:
    """Every claim for every activation-aware method of the run, and claim 3 for magnitude too."""
    magnitude = _magnitude(summary)
    if magnitude is None:
        return [Claim("activation-aware rules against magnitude", NOT_MEASURED, "no magnitude method in this run")]
    aware = [row.method for row in _calibrated(summary, calibrated_rules)]
    if not aware:
        return [Claim("activation-aware rules against magnitude", NOT_MEASURED, "no activation-aware method ran")]
    claims = [_less_than_magnitude(summary, method, magnitude, HALF, much=False) for method in aware]
    claims += [_less_than_magnitude(summary, method, magnitude, TWO_OF_FOUR, much=True) for method in aware]
    return claims + [_two_of_four_loses_more(summary, method) for method in [magnitude, *aware]]
