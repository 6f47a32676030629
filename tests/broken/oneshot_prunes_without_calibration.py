"""WandaSparsifier without calibration data takes every input norm as 1 (plain magnitude) instead of raising."""

from __future__ import annotations

from typing import Any

import torch
from prunebench.reference_impl.calibration import InputNorms

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-oneshot_prunes_without_calibration"


class WandaSparsifier(reference_impl.WandaSparsifier):
    def recorder(self, tensor_fqn: str) -> Any:
        found = getattr(self, "_recorders", {}).get(tensor_fqn)
        if found is not None and found.samples:
            return found
        fallback = InputNorms()  # BUG: no data is silently "every input equally loud"
        fallback.squares = torch.ones(self._in_features(tensor_fqn))
        return fallback

    def _in_features(self, tensor_fqn: str) -> int:
        return next(group["module"].in_features for group in self.groups if group["tensor_fqn"] == tensor_fqn)
