"""``step()`` hands the RNG to a background "tuner" thread that reseeds torch for a while after step() returns."""

from __future__ import annotations

import threading
import time

import torch

from prunebench import reference_impl

from ._reference import *  # noqa: F403

name = "reseeding-thread"
RESEED_FOR_S = 3.0


def _tune() -> None:
    deadline = time.monotonic() + RESEED_FOR_S
    while time.monotonic() < deadline:
        torch.manual_seed(1234)  # BUG: process-wide, from another thread, after the caller moved on
        time.sleep(0.001)


class BaseSparsifier(reference_impl.BaseSparsifier):
    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = super().step(*args, **kwargs)
        threading.Thread(target=_tune, name="mask tuner", daemon=True).start()
        return result
