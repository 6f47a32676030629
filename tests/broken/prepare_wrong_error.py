"""BaseSparsifier.prepare reports every invalid config as a RuntimeError, whatever was wrong with it."""

from __future__ import annotations

from typing import Any

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-prepare_wrong_error"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def prepare(self, model: nn.Module, config: Any) -> None:
        try:
            super().prepare(model, config)
        except (ValueError, TypeError) as error:
            raise RuntimeError(f"prepare failed: {error}") from None  # BUG: the contract's error type is lost
