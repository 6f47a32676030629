"""The quality suite's published form: one Markdown file of tables, claims, plots and how the run was made.

Every string a backend controls (its name, a failure message) goes through ``markdown_inline``; the
reproduction command is built with ``shlex`` by the caller. Rows are never dropped: a method that
failed or cannot express a target shows that in its cell, with the reason in a numbered note.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prunebench.harness.environment import busy_reasons
from prunebench.harness.escaping import markdown_code, markdown_inline

from .anchors import REPRODUCED, Claim
from .check import Comparison, compare_to, describe
from .methods import FLOOR_BACKEND, STRUCTURED, UNSTRUCTURED
from .models import QualityModel
from .protocol import NOT_APPLICABLE, Plan
from .record import RunFacts
from .stats import BETTER, WORSE, Spread
from .summary import ModelSummary, Row

HEADLINE_TARGETS = {UNSTRUCTURED: ("0.5", "0.7", "0.9", "2:4"), STRUCTURED: ("0.3",)}
YARDSTICK = "reference"
NO_VALUE = "\N{EN DASH}"

HOW_TO_READ = """\
**How to read it.** Every number is the mean ± standard deviation over the seeds (each seed trains its own
dense model, and every method prunes that same model). A cell reads *one-shot → fine-tuned*: the quality
right after pruning, then after the fine-tuning budget every method gets (same optimiser, steps and
batches; pruned weights stay zero). Compare a row with the **dense** baseline and its spread above it:
one-shot with the dense model, fine-tuned with the dense model given the same fine-tuning budget (extra
training can lift a model that was not trained to convergence above its own dense baseline).
The level asked for is not the cost reached: *kept* is the nonzero fraction of the configured layers'
weights, *params* and *MACs* the pruned model's over the dense model's (MACs of one forward at batch 1,
`FlopCounterMode`; unstructured zeros do not lower them on dense kernels). Compare unstructured rules at
equal *kept*, structured ones at equal *MACs*: the plots put every method on those axes. Two methods are
compared seed by seed (both pruned the same dense model) and called different only when the mean of
their per-seed differences is further from zero than those differences' standard deviation plus the
metric's noise floor (0.5 points of accuracy, 0.02 of perplexity); everything else is *within the
spread*. With three seeds that is a description, not a significance test. *floor random* and *floor random
rows* are random masks on the reference's machinery: a rule that does not beat them has learnt nothing
from the weights."""


class Notes:
    """Numbered notes of one table: each distinct reason once."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def mark(self, reason: str) -> str:
        if reason not in self.reasons:
            self.reasons.append(reason)
        return f"[{self.reasons.index(reason) + 1}]"

    def render(self) -> str:
        return "\n".join(f"{i}. {markdown_inline(reason)}" for i, reason in enumerate(self.reasons, start=1))


def _value(summary: ModelSummary, spread: Spread | None) -> str:
    return NO_VALUE if spread is None else spread.format(summary.metric.decimals, summary.metric.unit)


def _ratio(spread: Spread | None) -> str:
    if spread is None:
        return NO_VALUE
    return f"{spread.mean:.2f}x" if spread.std < 0.005 else f"{spread.mean:.2f} ± {spread.std:.2f}x"


def _stages(summary: ModelSummary, row: Row | None, notes: Notes) -> str:
    if row is None:
        return ""
    if row.one_shot is None:
        word = "n/a" if row.status == NOT_APPLICABLE else "fails"
        return f"{word} {notes.mark(row.reason)}"
    text = f"{_value(summary, row.one_shot)} → {_value(summary, row.fine_tuned)}"
    return text + (f" {notes.mark(row.reason)}" if row.reason else "")


def _targets_present(summary: ModelSummary, structure: str) -> list[str]:
    return list(dict.fromkeys(r.target for r in summary.rows if r.structure == structure))


def _headline_targets(summary: ModelSummary, structure: str) -> list[str]:
    present = _targets_present(summary, structure)
    chosen = [t for t in HEADLINE_TARGETS[structure] if t in present]
    return chosen or present


def _methods(summary: ModelSummary, structure: str) -> list[str]:
    return list(dict.fromkeys(r.method for r in summary.rows if r.structure == structure))


def _dense_line(summary: ModelSummary) -> str:
    seeds = ", ".join(summary.metric.format(d.quality) for d in summary.dense_runs)
    return (
        f"{_value(summary, summary.dense)} (seeds: {seeds}), "
        f"{_value(summary, summary.dense_fine_tuned)} after the same fine-tuning budget"
    )


def headline_table(summary: ModelSummary, structure: str) -> str:
    """One row per method, the headline targets as columns; structured rows add params and MACs."""
    targets = _headline_targets(summary, structure)
    methods = _methods(summary, structure)
    if not methods:
        return ""
    notes = Notes()
    extra = ["params", "MACs"] if structure == STRUCTURED and len(targets) == 1 else []
    lines = [
        "| method | " + " | ".join(targets + extra) + " |",
        "| --- | " + " | ".join(["---"] * len(targets) + ["---:"] * len(extra)) + " |",
    ]
    for method in methods:
        rows = [summary.row(method, t) for t in targets]
        cells = [_stages(summary, row, notes) for row in rows]
        if extra:
            cells += [_ratio(rows[0].parameters), _ratio(rows[0].macs)] if rows[0] else ["", ""]
        lines.append(f"| {markdown_inline(method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + ("\n\n" + notes.render() if notes.reasons else "")


def _versus(summary: ModelSummary, row: Row, comparisons: Sequence[Comparison]) -> str:
    found = [c for c in comparisons if c.method is row]
    if row.backend == YARDSTICK:
        return "(yardstick)"
    if not found:
        return ""
    cost = "" if found[0].equal_cost else " (not at equal cost)"
    return " / ".join(c.verdict for c in found) + cost


def full_table(summary: ModelSummary, structure: str) -> str:
    """Every method x target of one structure: quality per stage, compression reached, verdict against the reference."""
    comparisons = compare_to(summary, YARDSTICK)
    notes = Notes()
    lines = [
        "| method | target | one-shot | fine-tuned | kept | params | MACs "
        "| vs reference's same rule (one-shot / fine-tuned) |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in (r for r in summary.rows if r.structure == structure):
        if row.one_shot is None:
            quality = [f"{'n/a' if row.status == NOT_APPLICABLE else 'fails'} {notes.mark(row.reason)}", ""]
        else:
            mark = f" {notes.mark(row.reason)}" if row.reason else ""
            quality = [_value(summary, row.one_shot) + mark, _value(summary, row.fine_tuned)]
        ratios = [_ratio(row.kept_weights), _ratio(row.parameters), _ratio(row.macs)]
        cells = [markdown_inline(row.method), row.target, *quality, *ratios, _versus(summary, row, comparisons)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + ("\n\n" + notes.render() if notes.reasons else "")


def comparisons_section(summaries: dict[str, ModelSummary]) -> str:
    """Counts of verdicts against the reference's same rule, and every one that is not within the spread."""
    lines = []
    for summary in summaries.values():
        comparisons = [c for c in compare_to(summary, YARDSTICK) if c.method.backend != FLOOR_BACKEND]
        equal = [c for c in comparisons if c.equal_cost]
        called = [c for c in equal if c.verdict in (BETTER, WORSE)]
        reference_worse = sum(c.verdict == BETTER for c in called)
        lines.append(
            f"- **{markdown_inline(summary.model)}**: {len(comparisons)} comparisons, {len(equal)} at equal cost, "
            f"{len(called)} beyond the spread, in {reference_worse} of which the reference is the worse"
            + ("." if not called else ":")
        )
        lines += [f"  - {markdown_inline(describe(summary, c))}" for c in called]
        unequal = sorted({c.method.method for c in comparisons if not c.equal_cost})
        if unequal:
            names = ", ".join(markdown_inline(n) for n in unequal)
            lines.append(f"  - not at equal cost (judge them on the plots): {names}")
    return "\n".join(lines)


def anchors_section(claims: Sequence[Claim]) -> str:
    lines = ["| claim | outcome | one-shot numbers |", "| --- | --- | --- |"]
    for claim in claims:
        outcome = f"**{claim.outcome}**" if claim.outcome == REPRODUCED else claim.outcome
        lines.append(f"| {markdown_inline(claim.claim)} | {outcome} | {markdown_inline(claim.evidence)} |")
    return "\n".join(lines)


def _model_line(model: QualityModel, summary: ModelSummary) -> str:
    dense = summary.dense_runs[0].compression
    training, tuning = model.training, model.fine_tuning
    return (
        f"- **{model.name}**: {markdown_inline(model.description)}; {dense.parameters:,} parameters, "
        f"{dense.macs:,} MACs at batch 1; {summary.metric.name}; trained {training.steps} steps of "
        f"{training.batch_size} (AdamW, lr {training.learning_rate:g}, weight decay {training.weight_decay:g}, "
        f"warm-up then cosine); fine-tuning budget {tuning.steps} steps of {tuning.batch_size} (lr "
        f"{tuning.learning_rate:g}); {model.calibration_batches} calibration batches of {training.batch_size}; "
        f"configured: every Linear / Conv2d but {', '.join(markdown_code(h) for h in model.head)}; "
        f"dense: {_dense_line(summary)}"
    )


def facts_section(facts: RunFacts, plan: Plan, summaries: dict[str, ModelSummary]) -> str:
    env = facts.environment
    keys = ("cpu_model", "cpu_count", "torch_threads", "torch", "transformers", "python", "git_revision", "date")
    machine = "; ".join(f"{key} {markdown_inline(env.get(key))}" for key in keys)
    load = env.get("load") or {}
    busy = busy_reasons(env)
    lines = [
        f"- Reproduce: {markdown_code(facts.command)}",
        f"- Machine: {machine}",
        f"- Load: load average {load.get('load_average_start')} at the start, {load.get('load_average_end')} at the "
        f"end; other processes took {load.get('others_cpu_share')} of the CPU time"
        + (
            f". **Busy machine**: {markdown_inline('; '.join(busy))} (quality numbers do not depend on load)"
            if busy
            else ""
        ),
        f"- Time: {facts.wall_seconds / 60:.1f} min in all ({facts.cpu_seconds / 60:.1f} min of CPU time); "
        f"training {facts.training_seconds / 60:.1f} min, "
        f"loading cached checkpoints {facts.loading_seconds:.1f} s, the pruning grid {facts.grid_seconds / 60:.1f} min",
        f"- Seeds: {', '.join(map(str, plan.seeds))}",
    ]
    lines += [
        f"- Data {markdown_inline(name)}: {markdown_inline(d['source'])}, sha256 `{d['sha256']}`"
        for name, d in facts.data.items()
    ]
    lines += [_model_line(model, summaries[model.name]) for model in plan.models if model.name in summaries]
    return "\n".join(lines)


def methods_section(plan: Plan) -> str:
    """Each rule once, with the backends that ran it and what they call; names not run, with why."""
    rules: dict[str, list] = {}
    for method in plan.methods:
        rules.setdefault(method.rule.name, []).append(method)
    lines = []
    for name, methods in rules.items():
        by_call: dict[str, list[str]] = {}
        for method in methods:
            by_call.setdefault(method.call, []).append(markdown_inline(method.backend))
        calls = "; ".join(f"{', '.join(backends)} ({markdown_code(call)})" for call, backends in by_call.items())
        lines.append(f"- **{markdown_inline(name)}**: {markdown_inline(methods[0].rule.description)}. By: {calls}")
    skipped: dict[tuple[str, str], list[str]] = {}
    for item in plan.not_run:
        skipped.setdefault((item.name, item.reason), []).append(item.backend)
    for (name, reason), backends in skipped.items():
        by = ", ".join(markdown_inline(b) for b in backends)
        lines.append(f"- {markdown_code(name)} ({by}): not run, {markdown_inline(reason)}")
    return "\n".join(lines)


def render(
    plan: Plan,
    summaries: dict[str, ModelSummary],
    facts: RunFacts,
    claims: Sequence[Claim],
    plots: Sequence[Path],
    base: Path,
) -> str:
    parts = [
        "# Which pruner is better: quality at sparsity, one protocol for every backend",
        facts_section(facts, plan, summaries),
        HOW_TO_READ,
        "## Headline",
    ]
    for summary in summaries.values():
        parts += [f"### {markdown_inline(summary.model)}: {summary.metric.name}", f"**Dense**: {_dense_line(summary)}."]
        parts += [t for t in (headline_table(summary, UNSTRUCTURED), headline_table(summary, STRUCTURED)) if t]
    if claims:
        parts += ["## The papers' ordering on the language model (one shot)", anchors_section(claims)]
    parts += ["## Same rule, different libraries (against the reference)", comparisons_section(summaries)]
    for summary in summaries.values():
        for structure in (UNSTRUCTURED, STRUCTURED):
            if any(r.structure == structure for r in summary.rows):
                parts += [
                    f"## {markdown_inline(summary.model)}: every {structure} result",
                    full_table(summary, structure),
                ]
    parts += ["## Methods", methods_section(plan), "## Plots"]
    parts += [f"![{path.stem}]({path.relative_to(base).as_posix()})" for path in plots]
    return "\n\n".join(parts) + "\n"
