"""One run's record: how it was run (command, machine, load, data hashes, timings) and every measurement, as JSON.

The JSON keeps each seed's raw numbers (every cell, every dense model), so any table or plot can be
rebuilt, and other statistics taken, without running again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from .methods import PruningMethod
from .models import QualityModel
from .protocol import Grid, Plan

SCHEMA = "prunebench-quality/1"


@dataclass(frozen=True)
class RunFacts:
    """How a run was made: what reproduces it and what it ran on."""

    command: str
    environment: dict[str, Any]
    data: dict[str, dict[str, str]]
    """Task name -> its data set's source and sha256."""
    training_seconds: float
    """Wall time spent training dense models in this run (0 when every checkpoint came from the cache)."""
    loading_seconds: float
    """Wall time spent loading cached checkpoints."""
    grid_seconds: float
    """Wall time of pruning, measuring and fine-tuning every cell."""
    wall_seconds: float
    cpu_seconds: float
    """CPU time of the run's process (imports included): on a shared machine, the work without the waiting."""


def _model_record(model: QualityModel) -> dict[str, Any]:
    return {
        "description": model.description,
        "task": model.task,
        "architecture": dict(model.architecture),
        "training": asdict(model.training),
        "fine_tuning": asdict(model.fine_tuning),
        "calibration_batches": model.calibration_batches,
        "head": list(model.head),
    }


def _method_record(method: PruningMethod) -> dict[str, Any]:
    rule = method.rule
    return {
        "name": method.name,
        "backend": method.backend,
        "rule": rule.name,
        "structure": rule.structure,
        "calibrated": rule.calibrated,
        "n_m": rule.n_m,
        "call": method.call,
        "description": rule.description,
    }


def as_json(plan: Plan, grid: Grid, facts: RunFacts) -> str:
    document = {
        "schema": SCHEMA,
        "facts": asdict(facts),
        "models": {model.name: _model_record(model) for model in plan.models},
        "methods": [_method_record(method) for method in plan.methods],
        "not_run": [asdict(item) for item in plan.not_run],
        "seeds": list(plan.seeds),
        "targets": [asdict(target) | {"label": target.label} for target in plan.targets],
        "dense": [asdict(dense) for dense in grid.dense],
        "cells": [asdict(cell) for cell in grid.cells],
    }
    return json.dumps(document, indent=1, default=str) + "\n"
