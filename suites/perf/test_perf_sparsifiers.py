"""prepare / step / squash_mask of the element-wise sparsifiers on large Linear weights."""

from __future__ import annotations

from typing import Any

import pytest

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
