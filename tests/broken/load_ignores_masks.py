"""BaseSparsifier.load_state_dict restores groups and counters but never copies the saved masks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-load_ignores_masks"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        # BUG: only the non-mask entries are restored; the freshly prepared all-ones masks stay
        state = {fqn: {k: v for k, v in entry.items() if k != "mask"} for fqn, entry in state_dict["state"].items()}
        super().load_state_dict({**state_dict, "state": state}, strict)
