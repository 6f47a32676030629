"""BaseSparsifier.load_state_dict pops the masks out of the state_dict it is given, so it cannot be loaded twice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-load_mutates_state_dict"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        super().load_state_dict(state_dict, strict)
        for entry in state_dict["state"].values():
            entry.pop("mask", None)  # BUG: `mask = entry.pop("mask")` on the caller's dict
