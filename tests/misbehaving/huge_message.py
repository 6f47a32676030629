"""``step()`` raises with a 10 MB message (a whole tensor printed into it)."""

from __future__ import annotations

from prunebench import reference_impl

from ._reference import *  # noqa: F403

name = "huge-message"
MESSAGE_BYTES = 10_000_000


class BaseSparsifier(reference_impl.BaseSparsifier):
    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("mask mismatch: " + "0, 1, " * (MESSAGE_BYTES // 6))
