"""BaseSparsifier.__init__ raises TypeError for every class, so the base looks abstract and nothing constructs."""

from __future__ import annotations

from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-base_init_always_raises"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("BUG: a constructor that always raises")
