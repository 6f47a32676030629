"""The grid: every model x seed x method x target, measured one shot and after the fine-tuning budget.

ShrinkBench's protocol: for each model and seed one dense model is trained (or loaded from the cache);
every method prunes a copy of that same model, with the same layers configured and, at the same grid
point, the same calibration batches; quality is measured right after pruning (one shot) and after the
model's fine-tuning budget (the same optimiser, steps and batches for every method, pruned weights kept
at zero); the compression reached is measured on the model the method returned. A method that raises
is recorded as failing with its error's first line; a target a method cannot express (an N:M pattern
it lacks, a layer type its rule does not score) as not applicable, with the reason. Nothing is dropped.
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from prunebench.harness.errors import UnsupportedError
from torch import nn

from . import costs
from .cache import trained_model
from .costs import Compression
from .methods import STRUCTURED, UNSTRUCTURED, NotRun, PruningJob, PruningMethod, Target
from .models import QualityModel
from .tasks import ExampleInputs, Task
from .training import frozen_zeros, optimize

UNSTRUCTURED_LEVELS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
STRUCTURED_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
TWO_OF_FOUR = (2, 4)
CALIBRATION_STREAM = 1
FINE_TUNING_STREAM = 2
"""Generator streams derived from a seed (training uses the seed itself): ``stream_seed``."""

OK = "ok"
FAILS = "fails"
NOT_APPLICABLE = "not applicable"


def stream_seed(seed: int, stream: int) -> int:
    """A generator seed of its own for each use of one run seed, so calibration and fine-tuning draw apart."""
    return seed + 100_003 * stream


def targets(levels: Sequence[float], n_m: bool, structured_levels: Sequence[float]) -> tuple[Target, ...]:
    grid = [Target(UNSTRUCTURED, level) for level in levels]
    grid += [Target(UNSTRUCTURED, TWO_OF_FOUR[0] / TWO_OF_FOUR[1], TWO_OF_FOUR)] if n_m else []
    return tuple(grid + [Target(STRUCTURED, level) for level in structured_levels])


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    models: tuple[QualityModel, ...]
    methods: tuple[PruningMethod, ...]
    not_run: tuple[NotRun, ...]
    seeds: tuple[int, ...]
    targets: tuple[Target, ...]
    cache_dir: Path


@dataclass(frozen=True)
class DenseRun:
    """One trained dense model: the baseline every method of its seed starts from."""

    model: str
    seed: int
    quality: float
    fine_tuned: float
    """The dense model after the same fine-tuning budget: how much of a method's recovery is just more training."""
    compression: Compression
    from_cache: bool
    seconds: float
    checkpoint: str


@dataclass(frozen=True)
class Place:
    """Where a result sits in the grid: one model, one method (its backend and rule), one target."""

    model: str
    method: str
    backend: str
    rule: str
    structure: str
    target: str
    level: float


@dataclass(frozen=True)
class Cell(Place):
    """One method at one target on one seed's model."""

    seed: int
    status: str
    reason: str = ""
    one_shot: float | None = None
    fine_tuned: float | None = None
    compression: Compression | None = None
    seconds: float = 0.0


@dataclass
class Grid:
    """Everything one run measured, in the order it was measured."""

    dense: list[DenseRun] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)


MESSAGE_LENGTH = 240
"""Longest error message a cell keeps: its start and its end (where "... still contains X" often is)."""


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line, whitespace folded, the middle of a long message elided."""
    text = f"{type(error).__name__}: {' '.join(str(error).split())}"
    if len(text) <= MESSAGE_LENGTH:
        return text
    half = MESSAGE_LENGTH // 2
    return f"{text[:half]} … {text[-half:]}"


@dataclass(frozen=True)
class Point:
    """What every method of one model, seed and target shares: the dense model and the batches."""

    spec: QualityModel
    task: Task
    dense: nn.Module
    layers: tuple[str, ...]
    layer_types: tuple[type[nn.Module], ...]
    calibration: Sequence[ExampleInputs]
    seed: int


def _cell(point: Point, method: PruningMethod, target: Target, status: str, **values: object) -> Cell:
    return Cell(
        point.spec.name,
        method.name,
        method.backend,
        method.rule.name,
        target.structure,
        target.label,
        target.level,
        point.seed,
        status,
        **values,
    )


def run_cell(point: Point, method: PruningMethod, target: Target) -> Cell:
    """Prune a copy of the point's dense model with ``method`` at ``target``; measure, fine-tune, measure again."""
    reason = method.not_applicable(target, point.layer_types)
    if reason:
        return _cell(point, method, target, NOT_APPLICABLE, reason=reason)
    started = time.perf_counter()
    inputs = point.task.example_inputs()
    job = PruningJob(copy.deepcopy(point.dense), point.layers, target, point.calibration, inputs, point.seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # libraries' deprecation and clamping notices, per cell
            pruned = method.prune(job)
        one_shot = point.task.quality(pruned)
        compression = costs.measure(pruned, point.layers, inputs)
    except UnsupportedError as error:  # a method declaring the model outside what it prunes: no result, no failure
        return _cell(point, method, target, NOT_APPLICABLE, reason=one_line(error))
    except Exception as error:  # the library's failure is the result, recorded with its message
        return _cell(point, method, target, FAILS, reason=one_line(error), seconds=time.perf_counter() - started)
    try:
        generator = torch.Generator().manual_seed(stream_seed(point.seed, FINE_TUNING_STREAM))
        optimize(pruned, point.task, point.spec.fine_tuning, generator, frozen_zeros(pruned, point.layers))
        fine_tuned, reason = point.task.quality(pruned), ""
    except Exception as error:  # one-shot stands; the fine-tuning failure is said
        fine_tuned, reason = None, f"fine-tuning fails: {one_line(error)}"
    seconds = time.perf_counter() - started
    return _cell(
        point,
        method,
        target,
        OK,
        reason=reason,
        one_shot=one_shot,
        fine_tuned=fine_tuned,
        compression=compression,
        seconds=seconds,
    )


Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _describe(cell: Cell, metric_decimals: int) -> str:
    if cell.status != OK:
        return f"{cell.status}: {cell.reason}"
    tuned = "n/a" if cell.fine_tuned is None else f"{cell.fine_tuned:.{metric_decimals}f}"
    return f"one-shot {cell.one_shot:.{metric_decimals}f}, fine-tuned {tuned} ({cell.seconds:.1f} s)"


def _fine_tuned_dense(point: Point) -> float:
    """The dense model's quality after the fine-tuning budget, on a copy, with the batches every method gets."""
    model = copy.deepcopy(point.dense)
    generator = torch.Generator().manual_seed(stream_seed(point.seed, FINE_TUNING_STREAM))
    optimize(model, point.task, point.spec.fine_tuning, generator)
    return point.task.quality(model)


def _dense_point(spec: QualityModel, task: Task, seed: int, cache_dir: Path) -> tuple[Point, DenseRun]:
    trained = trained_model(spec, task, seed, cache_dir)
    layers = spec.configured_layers(trained.model)
    types = tuple(dict.fromkeys(type(trained.model.get_submodule(fqn)) for fqn in layers))
    generator = torch.Generator().manual_seed(stream_seed(seed, CALIBRATION_STREAM))
    calibration = task.calibration(spec.calibration_batches, spec.training.batch_size, generator)
    point = Point(spec, task, trained.model, layers, types, calibration, seed)
    dense = DenseRun(
        model=spec.name,
        seed=seed,
        quality=task.quality(trained.model),
        fine_tuned=_fine_tuned_dense(point),
        compression=costs.measure(trained.model, layers, task.example_inputs()),
        from_cache=trained.from_cache,
        seconds=trained.seconds,
        checkpoint=trained.path.name,
    )
    return point, dense


def run_plan(plan: Plan, progress: Progress = _stderr) -> Grid:
    """Measure the whole plan, one progress line per dense model and per cell."""
    grid = Grid()
    for spec in plan.models:
        task = spec.make_task()
        decimals = task.metric.decimals
        for seed in plan.seeds:
            point, dense = _dense_point(spec, task, seed, plan.cache_dir)
            grid.dense.append(dense)
            how = "from the cache" if dense.from_cache else "trained"
            progress(
                f"quality: {spec.name} seed {seed}: dense {dense.quality:.{decimals}f}, after the fine-tuning budget "
                f"{dense.fine_tuned:.{decimals}f} ({how}, {dense.seconds:.1f} s)"
            )
            for method in plan.methods:
                for target in plan.targets:
                    if target.structure != method.rule.structure:
                        continue
                    cell = run_cell(point, method, target)
                    grid.cells.append(cell)
                    progress(
                        f"quality: {spec.name} seed {seed} {method.name} {target.label}: {_describe(cell, decimals)}"
                    )
    return grid
