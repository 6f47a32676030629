"""WeightNormSparsifier computes the right masks, slowly: each mask update stalls 20 ms (a perf regression).

Every conformance check passes it; only ``prunebench compare`` against the reference's perf run can
catch it (tests/test_compare_runs.py).
"""

from __future__ import annotations

import time
from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-_perf_step_stalls"
STALL_SECONDS = 0.02


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def update_mask(self, module: Any, tensor_name: str, **kwargs: Any) -> None:
        time.sleep(STALL_SECONDS)  # BUG: the masks are right, the time is not
        super().update_mask(module, tensor_name, **kwargs)
