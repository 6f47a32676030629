"""SparseGPTSparsifier computes the right masks and weights, slowly: each step stalls 3 s (a perf regression of a
one-shot prune).

Every conformance check passes it; only ``prunebench compare`` against the reference's one-shot perf case can
catch it (tests/test_compare_runs.py).
"""

from __future__ import annotations

import time
from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-_perf_oneshot_stalls"
STALL_SECONDS = 3.0


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    def step(self, *args: Any, **kwargs: Any) -> None:
        time.sleep(STALL_SECONDS)  # BUG: the prune is right, the time is not
        super().step(*args, **kwargs)
