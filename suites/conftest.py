"""Fixtures shared by the sparsifier suites: a test sparsifier written against the backend's base class."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from prunebench.harness.backend import Backend
from torch import nn

from .checks import mask_of

STEP_COUNT_FQN = "linear1.weight"
PERF_DIR = Path(__file__).resolve().parent / "perf"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The performance suites run only when asked for by path (they are serial and slow)."""
    if collection_path.resolve() != PERF_DIR:
        return None
    requested = any("perf" in str(arg) for arg in config.args)
    return not requested


@pytest.fixture(autouse=True)
def _exact_float32_convolutions() -> Iterator[None]:
    """Convolutions in full float32 for the test's duration, whatever the device.

    cuDNN's default (``allow_tf32``) rounds float32 convolution inputs to TF32's 10 mantissa bits on
    Ampere and later GPUs: two correct computations of the same output (a masked and a pruned model)
    then differ by ~1e-4, and every float32 comparison would flag correct pruners (22 of 34 failures of
    the first CUDA run were that). Matmuls are already exact (``float32_matmul_precision`` "highest").
    """
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def make_row_zero_sparsifier(backend: Backend) -> type:
    """A minimal sparsifier on the backend's ``BaseSparsifier``: each step zeroes row 0 of every mask.

    It also counts steps in ``state[tensor_fqn]["step_count"]`` so state persistence can be checked.
    """
    base = backend.get("BaseSparsifier")

    class RowZeroSparsifier(base):
        def __init__(self, **defaults: Any) -> None:
            super().__init__(defaults=defaults)

        def update_mask(self, module: nn.Module, tensor_name: str, **kwargs: Any) -> None:
            mask_of(module, tensor_name)[0] = 0
            entry = self.state[kwargs["tensor_fqn"]]
            entry["step_count"] = entry.get("step_count", 0) + 1

    return RowZeroSparsifier


@pytest.fixture
def row_zero_sparsifier(backend: Backend) -> type:
    return make_row_zero_sparsifier(backend)
