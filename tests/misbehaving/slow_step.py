"""``step()`` is correct but slow (3 s): past a short time limit, it times out. Whether it passes alone says
nothing about state kept between tests, so the report must not call it state-dependent."""

from __future__ import annotations

import time

from prunebench import reference_impl

from ._reference import *  # noqa: F403

name = "slow-step"
STEP_SECONDS = 3.0


class BaseSparsifier(reference_impl.BaseSparsifier):
    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(STEP_SECONDS)
        return super().step(*args, **kwargs)
