"""``WeightNormSparsifier.step()`` is correct, but from its third call in a process on it stalls for a minute.

In the perf suite that is the case's warm-up, its first timed round, then a stall in the second round: a
time limit cuts the case short with one round recorded. That partial record must not reach the results
(nor cost the run its other cases' results)."""

from __future__ import annotations

import time

from prunebench import reference_impl

from ._reference import *  # noqa: F403

name = "stalls-late-step"
STALL_FROM_CALL = 3
STALL_S = 60.0
_calls = 0


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        global _calls
        _calls += 1
        if _calls >= STALL_FROM_CALL:
            time.sleep(STALL_S)
        return super().step(*args, **kwargs)
