"""BaseSparsifier.step recomputes masks even when enable_mask_update is False."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-ignores_enable_mask_update"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def step(self, use_path: bool = True) -> None:
        with torch.no_grad():  # BUG: no `if not self.enable_mask_update: return`
            for group in self.groups:
                self.update_mask(**group)
