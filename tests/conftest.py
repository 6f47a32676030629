"""Helpers for running the conformance suites from inside the harness's own tests."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

SUITES = Path(__file__).resolve().parent.parent / "suites"

# pytester's in-process runs forget every module first imported inside them, so import here, once, what
# the suites import lazily: hypothesis (seconds to import, each run) and torch.distributed.tensor, which
# torch.testing.assert_close imports and which fails when imported twice (its TORCH_LIBRARY registers again).
KEEP_IMPORTED = ["hypothesis", "reference_impl", "matplotlib"] + (
    ["torch.distributed.tensor"] if torch.distributed.is_available() else []
)
for _module in KEEP_IMPORTED:
    importlib.import_module(_module)


def run_suites(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in-process on ``args`` (suite paths and options), without cache side effects."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)
