"""``step()`` leaves a ``multiprocessing`` child running, which the interpreter joins at exit, forever."""

from __future__ import annotations

import multiprocessing
import time

from prunebench import reference_impl

from ._reference import *  # noqa: F403

name = "leaves-process"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = super().step(*args, **kwargs)
        multiprocessing.get_context("spawn").Process(target=time.sleep, args=(3600,), name="mask worker").start()
        return result


class LeakyMagnitudeSparsifier(reference_impl.WeightNormSparsifier):
    """A user's class for ``prunebench check``: the reference rule, leaving the same process after each step."""

    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = super().step(*args, **kwargs)
        multiprocessing.get_context("spawn").Process(target=time.sleep, args=(3600,), name="mask worker").start()
        return result
