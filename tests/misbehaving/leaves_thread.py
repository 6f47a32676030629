"""``step()`` leaves a non-daemon thread running (a background saver that never finishes): the interpreter
would wait for it forever at exit."""

from __future__ import annotations

import threading
import time

from prunebench import reference_impl

from ._reference import *  # noqa: F403

name = "leaves-thread"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = super().step(*args, **kwargs)
        threading.Thread(target=time.sleep, args=(3600,), name="mask saver").start()  # BUG: never joined
        return result


class LeakyMagnitudeSparsifier(reference_impl.WeightNormSparsifier):
    """A user's class for ``prunebench check``: the reference rule, leaving the same thread after each step."""

    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = super().step(*args, **kwargs)
        threading.Thread(target=time.sleep, args=(3600,), name="mask saver").start()
        return result
