"""prepare / step / squash_mask of the element-wise sparsifiers on large Linear weights."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from .workloads import square_linear

PATTERNS: dict[str, tuple[str, dict[str, Any]]] = {
    "wn_unstructured": ("WeightNormSparsifier", {"sparsity_level": 0.5, "sparse_block_shape": (1, 1)}),
    "wn_1x4": ("WeightNormSparsifier", {"sparsity_level": 0.5, "sparse_block_shape": (1, 4)}),
    "wn_2of4": ("WeightNormSparsifier", {"sparsity_level": 1.0, "sparse_block_shape": (1, 4), "zeros_per_block": 2}),
    "nearly_diagonal": ("NearlyDiagonalSparsifier", {"nearliness": 5}),
}
OPERATIONS = ("prepare", "step", "squash_mask")


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_sparsifier_operation(backend, device, size, pattern, operation, measure):
    class_name, kwargs = PATTERNS[pattern]
    sparsifier_class = backend.get(class_name)

    def fresh() -> tuple[Any, ...]:
        model = square_linear(size, device)
        sparsifier = sparsifier_class(**kwargs)
        if operation != "prepare":
            sparsifier.prepare(model, None)
        if operation == "squash_mask":
            sparsifier.step()
        return sparsifier, model

    targets = {
        "prepare": lambda sparsifier, model: sparsifier.prepare(model, None),
        "step": lambda sparsifier, model: sparsifier.step(),
        "squash_mask": lambda sparsifier, model: sparsifier.squash_mask(),
    }
    measure(operation, fresh, targets[operation], pattern=pattern, size=size, weight_bytes=size * size * 4)


FLOOR_PASSES: dict[str, Any] = {
    "read": lambda weight, mask: weight.sum(),
    "multiply": lambda weight, mask: weight * mask,
}


@pytest.mark.parametrize("pass_name", sorted(FLOOR_PASSES))
def test_bandwidth_floor(backend, device, size, pass_name, measure):
    """One pass over a weight of the same size, which is not the backend's code at all.

    Timed in the same run, interleaved like every case, so an operation can be stated as a multiple
    of what the memory system allows (``step`` vs ``read``: one read of the weight; ``squash_mask``
    vs ``multiply``: one ``weight * mask`` into a fresh tensor, the mask a 0/1 tensor of the weight's
    dtype as sparsifiers store it: a bool mask would take torch's slow mixed-dtype path, ~10x the
    time on CPU, and flatter every squash). It is measured once per backend column on purpose: the
    columns' floors should agree, and their ratio shows the run's noise (``harness.floors``).
    """

    def fresh() -> tuple[torch.Tensor, torch.Tensor]:
        weight = torch.randn(size, size, device=device)
        return weight, (torch.rand(size, size, device=device) < 0.5).to(weight.dtype)

    measure("floor", fresh, FLOOR_PASSES[pass_name], pass_name=pass_name, size=size, weight_bytes=size * size * 4)


WEIGHT_NORM_PATTERNS = sorted(
    name for name, (class_name, _) in PATTERNS.items() if class_name == "WeightNormSparsifier"
)


@pytest.mark.parametrize("pattern", WEIGHT_NORM_PATTERNS)
def test_weight_norm_step_in_dtype(backend, device, size, pattern, extra_dtype, measure):
    """The WeightNorm step on a weight of a ``--perf-dtypes`` dtype (float32: ``test_sparsifier_operation``)."""
    class_name, kwargs = PATTERNS[pattern]
    sparsifier_class, dtype = backend.get(class_name), getattr(torch, extra_dtype)

    def fresh() -> tuple[Any, ...]:
        sparsifier = sparsifier_class(**kwargs)
        sparsifier.prepare(square_linear(size, device).to(dtype), None)
        return (sparsifier,)

    weight_bytes = size * size * dtype.itemsize
    measure(
        "step",
        fresh,
        lambda sparsifier: sparsifier.step(),
        pattern=pattern,
        size=size,
        dtype=extra_dtype,
        weight_bytes=weight_bytes,
    )


def test_read_floor_in_dtype(backend, device, size, extra_dtype, measure):
    """One read of a weight of that dtype: the floor of ``test_weight_norm_step_in_dtype``."""
    dtype = getattr(torch, extra_dtype)

    def fresh() -> tuple[torch.Tensor]:
        return (torch.randn(size, size, device=device).to(dtype),)

    measure(
        "floor",
        fresh,
        lambda weight: weight.sum(),
        pass_name="read",
        size=size,
        dtype=extra_dtype,
        weight_bytes=size * size * dtype.itemsize,
    )
