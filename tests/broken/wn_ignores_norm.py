"""WeightNormSparsifier drops its norm argument and always ranks by the L2 norm."""

from __future__ import annotations

from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-wn_ignores_norm"


class WeightNormSparsifier(reference_impl.WeightNormSparsifier):
    def __init__(self, *args: Any, norm: object = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # BUG: norm is accepted, then dropped
