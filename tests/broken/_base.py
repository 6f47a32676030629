"""What every broken backend shares: the reference's sparsifier names, and a way to alter one line of it.

A broken module star-imports this, then redefines the one class it breaks.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from prunebench.reference_impl import BaseSparsifier, FakeSparsity, NearlyDiagonalSparsifier, WeightNormSparsifier

__all__ = ["BaseSparsifier", "FakeSparsity", "NearlyDiagonalSparsifier", "WeightNormSparsifier"]


def with_globals(function: Callable[..., Any], **replacements: Any) -> Callable[..., Any]:
    """A copy of a reference ``function`` that sees ``replacements`` instead of the module globals they name.

    This is how a broken backend swaps one helper deep inside the reference (a rounding rule, a
    predicate) without copying the code around it, and without touching the reference module itself.
    """
    missing = sorted(set(replacements) - set(function.__globals__))
    if missing:
        raise KeyError(f"{function.__qualname__} uses no globals named {missing}")
    altered = types.FunctionType(
        function.__code__,
        {**function.__globals__, **replacements},
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    altered.__kwdefaults__ = function.__kwdefaults__
    altered.__qualname__ = function.__qualname__
    return altered


def readable_path_only(*args: Any) -> bool:
    """Stands in for ``weight_norm_sparsifier._native_mask``: the compiled kernel (``reference_impl.native``) would
    compute the correct masks, and these bugs are planted in the readable path."""
    return False
