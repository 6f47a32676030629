"""One-shot pruning (SparseGPT, Wanda, magnitude, any library's records): the time and peak memory of one prune.

A one-shot prune is the whole cost of these methods (no training), and it grows with the layers' width:
SparseGPT inverts a width x width Hessian per layer and updates the kept weights column by column. Every one-shot
pruner of the backend (``harness.oneshot``) prunes one ``size x size`` Linear layer (``--perf-sizes``; a model's
prune is the sum of its layers') from four calibration batches of 128 rows, at 50% and 2:4; each round prunes a
fresh copy. Sizes above ``LARGEST_SIZE`` are not applicable: a round there takes minutes. A pruner that prunes only
``transformers`` models (llm-compressor's) is unsupported here, with its reason.
"""

from __future__ import annotations

import copy

import pytest
from prunebench.harness.errors import NotApplicableError, UnsupportedError
from prunebench.harness.oneshot import ONESHOT_KIND, SparsityPattern

from .workloads import calibration_rows, linear_stack

LARGEST_SIZE = 2048
"""The widest layer a one-shot case prunes: the reference's SparseGPT takes tens of seconds a round at 2048 on 2
cores, and a case runs at least five rounds in each thread mode."""
PATTERNS = (SparsityPattern.unstructured(0.5), SparsityPattern.n_of_m(2, 4))


@pytest.mark.subjects(ONESHOT_KIND)
@pytest.mark.parametrize("pattern", PATTERNS, ids=[pattern.id for pattern in PATTERNS])
def test_oneshot_prune(backend, subject, device, size, pattern, measure):
    if subject is None:
        raise UnsupportedError(f"backend {backend.name!r} provides no one-shot pruner")
    if size > LARGEST_SIZE:
        raise NotApplicableError(f"one-shot prunes are measured up to {LARGEST_SIZE} wide, not {size}")
    dense = linear_stack(size, device, depth=1)
    calibration = calibration_rows(size, device)

    def fresh() -> tuple[object, ...]:
        return (copy.deepcopy(dense),)

    measure(
        "oneshot_prune",
        fresh,
        lambda model: subject.prune(model, calibration, pattern, ()),
        size=size,
        pruner=subject.name,
        pattern=pattern.label,
    )
