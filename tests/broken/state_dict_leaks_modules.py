"""BaseSparsifier.state_dict saves the groups as they are, live module references included."""

from __future__ import annotations

from typing import Any

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-state_dict_leaks_modules"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def state_dict(self) -> dict[str, Any]:
        saved = super().state_dict()
        saved["groups"] = [dict(group) for group in self.groups]  # BUG: "module" is not filtered out
        return saved
