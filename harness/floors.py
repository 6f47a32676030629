"""The memory-bandwidth floor of an operation: the plain pass over the same weight, timed in the same run.

The perf suite measures ``floor`` cases (``suites/perf/test_perf_sparsifiers.py``): one read of a
weight (``weight.sum()``) and one ``weight * mask`` into a fresh tensor, per size and dtype, on every
backend column. An operation that must at least read the weight (a sparsifier's ``step``) is stated
as a multiple of the read; ``squash_mask``, which at least masks it, as a multiple of the multiply.
This module is the one place that pairs an operation with its floor; tables and notes read it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .results import Case

FLOOR_OPERATION = "floor"
FLOOR_PASS_OF = {"step": "read", "squash_mask": "multiply"}
"""Operation -> the ``pass_name`` of the floor case it is measured against."""
DEFAULT_DTYPE = "float32"
"""The dtype of a case that names none (the suites' float32 cases carry no dtype parameter)."""

FloorKey = tuple[str, str, int, str, str, str | None]


def _key(case: Case, pass_name: str) -> FloorKey | None:
    """(backend, device, size, dtype, pass, perf mode): an operation's floor ran in the same column and mode."""
    size = case.params.get("size")
    if not isinstance(size, int):
        return None
    return (case.backend, case.device, size, str(case.params.get("dtype", DEFAULT_DTYPE)), pass_name, case.mode)


def floor_cases(cases: Iterable[Case]) -> dict[FloorKey, Case]:
    """The floor cases among ``cases``, by (backend, device, size, dtype, pass, mode)."""
    floors: dict[FloorKey, Case] = {}
    for case in cases:
        pass_name = case.params.get("pass_name")
        key = _key(case, str(pass_name)) if case.operation == FLOOR_OPERATION else None
        if key is not None:
            floors[key] = case
    return floors


def floor_of(case: Case, floors: dict[FloorKey, Case]) -> Case | None:
    """The floor ``case`` is measured against, from the same backend column and perf mode; None if it has none."""
    pass_name = FLOOR_PASS_OF.get(case.operation)
    key = _key(case, pass_name) if pass_name else None
    return floors.get(key) if key else None


def times_floor(case: Case | None, floors: dict[FloorKey, Case]) -> float | None:
    """``case``'s median time over its floor's, or None when either is missing or the floor took no time."""
    floor = floor_of(case, floors) if case else None
    if case is None or floor is None or floor.median <= 0:
        return None
    return case.median / floor.median
