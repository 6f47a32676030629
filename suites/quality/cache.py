"""Trained dense checkpoints, reused across runs: a rerun of the pruning grid does not train again.

A checkpoint is keyed by everything that decides its weights: the model's architecture, the data's
sha256, the seed, torch's version, the training settings, the thread count (float sums may differ
with the number of threads) and ``TRAINING_CODE_VERSION`` (bumped whenever the training loop or the
batch sampling changes, so old checkpoints stop matching). A different value of any of them is a
different file, never a stale hit. Files are written atomically beside a JSON of their key, and read
with ``torch.load(weights_only=True)``; an unreadable one is trained again with a warning.

The directory is ``--cache-dir``, else ``$PRUNEBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/prunebench/quality``
(``~/.cache/prunebench/quality``): under the user's cache, never inside the repository.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from prunebench.harness.atomic import write_bytes_atomic, write_text_atomic
from torch import nn

from .models import QualityModel, seeded_build
from .tasks import Task
from .training import optimize

CACHE_ENV = "PRUNEBENCH_CACHE_DIR"
TRAINING_CODE_VERSION = 1
"""Part of every key: bump it when ``training.optimize``, a task's batches or a model's init change."""


def default_cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "prunebench" / "quality"


@dataclass(frozen=True)
class CheckpointKey:
    """Everything a trained checkpoint's weights depend on."""

    model: str
    architecture: dict[str, Any]
    data_sha256: str
    seed: int
    torch_version: str
    training: dict[str, Any]
    threads: int
    training_code_version: int = TRAINING_CODE_VERSION

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=list).encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.model}-seed{self.seed}-{self.digest()[:16]}.pt"


def checkpoint_key(spec: QualityModel, task: Task, seed: int) -> CheckpointKey:
    return CheckpointKey(
        model=spec.name,
        architecture=dict(spec.architecture),
        data_sha256=task.data_sha256,
        seed=seed,
        torch_version=torch.__version__,
        training=asdict(spec.training),
        threads=torch.get_num_threads(),
    )


@dataclass(frozen=True)
class Trained:
    """A trained dense model, where its checkpoint lies, and whether this run trained it or loaded it."""

    model: nn.Module
    key: CheckpointKey
    path: Path
    from_cache: bool
    seconds: float
    """Wall time this run spent getting it: training, or loading the checkpoint."""


def _load(spec: QualityModel, seed: int, path: Path) -> nn.Module | None:
    if not path.exists():
        return None
    model = seeded_build(spec, seed)
    try:
        model.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
    except Exception as error:  # a truncated or foreign file: train again rather than fail the run
        why = f"{type(error).__name__}: {error}"
        warnings.warn(f"checkpoint {path} could not be loaded ({why}); training again", stacklevel=2)
        return None
    return model.eval()


def _save(model: nn.Module, key: CheckpointKey, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    write_bytes_atomic(path, buffer.getvalue())
    write_text_atomic(path.with_suffix(".json"), json.dumps(asdict(key), indent=1, default=list) + "\n")


def trained_model(spec: QualityModel, task: Task, seed: int, cache_dir: Path) -> Trained:
    """The dense model of ``spec`` trained from ``seed``: from the cache when its key matches, else trained now."""
    started = time.perf_counter()
    key = checkpoint_key(spec, task, seed)
    path = cache_dir / key.file_name
    model = _load(spec, seed, path)
    if model is not None:
        return Trained(model, key, path, True, time.perf_counter() - started)
    model = seeded_build(spec, seed)
    optimize(model, task, spec.training, torch.Generator().manual_seed(seed))
    _save(model, key, path)
    return Trained(model, key, path, False, time.perf_counter() - started)
