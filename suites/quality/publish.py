"""Run a plan and write what it found: the Markdown report, its JSON and its plots, each atomically.

Layout: ``--out`` (``results/quality.md``) and, in the folder of the same name beside it
(``results/quality/``), ``quality.json`` and one PNG per model and structure. The machine's load is
sampled around the whole run and recorded, as the perf suite does (``harness.environment``).
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import asdict
from pathlib import Path

from prunebench.harness.atomic import write_text_atomic
from prunebench.harness.environment import CpuSample, MachineLoad, describe_environment
from prunebench.harness.errors import UsageError

from .anchors import check_anchors
from .plots import plot_all
from .protocol import Grid, Plan, run_plan
from .record import RunFacts, as_json
from .report import render
from .summary import summarize

LANGUAGE_MODEL = "lm"


def check_output(markdown: Path) -> None:
    """A Markdown path whose folder can be written: checked before hours of work, not after."""
    if markdown.suffix != ".md":
        raise UsageError(f"--out={str(markdown)!r}: expected a Markdown file name ending in .md")
    existing = next((p for p in (markdown.parent, *markdown.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out={str(markdown)!r}: {str(existing)!r} is not a writable folder")


def _environment() -> dict[str, object]:
    """The machine and the code as the run starts (the git revision that ran, not one edited meanwhile)."""
    from .command import now

    environment = describe_environment()
    try:
        environment["transformers"] = importlib.import_module("transformers").__version__
    except ImportError:
        environment["transformers"] = None
    environment["date"] = now()
    return environment


def _facts(plan: Plan, grid: Grid, command: str, environment: dict[str, object], wall: float) -> RunFacts:
    data = {}
    for model in plan.models:
        task = model.make_task()
        data[task.name] = {"source": task.data_source, "sha256": task.data_sha256}
    return RunFacts(
        command=command,
        environment=environment,
        data=data,
        training_seconds=sum(d.seconds for d in grid.dense if not d.from_cache),
        loading_seconds=sum(d.seconds for d in grid.dense if d.from_cache),
        grid_seconds=sum(c.seconds for c in grid.cells),
        wall_seconds=wall,
        cpu_seconds=time.process_time(),
    )


def publish(plan: Plan, command: str, markdown: Path, started: float) -> list[Path]:
    """Run ``plan`` and write its report; ``started`` is when the command began (``time.perf_counter``)."""
    check_output(markdown)
    environment = _environment()
    before = CpuSample.now()
    grid = run_plan(plan)
    environment["load"] = asdict(MachineLoad.between(before, CpuSample.now()))
    facts = _facts(plan, grid, command, environment, time.perf_counter() - started)
    summaries = summarize(grid, {model.name: model.make_task().metric for model in plan.models})
    calibrated = {method.rule.name for method in plan.methods if method.rule.calibrated}
    lm = summaries.get(LANGUAGE_MODEL)
    claims = check_anchors(lm, calibrated) if lm is not None else []
    folder = markdown.with_suffix("")
    json_path = write_text_atomic(folder / "quality.json", as_json(plan, grid, facts))
    plots = plot_all(summaries, folder)
    report = render(plan, summaries, facts, claims, plots, markdown.parent)
    return [write_text_atomic(markdown, report), json_path, *plots]
