"""WandaSparsifier leaves a forward pre-hook on each pruned layer that adds a float32 zero to its input."""

from __future__ import annotations

from typing import Any

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-oneshot_float32_hook"


def _add_float32_zero(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (args[0] + torch.zeros(1, dtype=torch.float32, device=args[0].device), *args[1:])


class WandaSparsifier(reference_impl.WandaSparsifier):
    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        super().squash_mask(*args, **kwargs)
        for group in self.groups:  # BUG: a float32 hook left behind promotes half-precision inputs
            group["module"].register_forward_pre_hook(_add_float32_zero)
