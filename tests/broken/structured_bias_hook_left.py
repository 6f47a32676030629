"""prune() moves each masked layer's bias back but leaves its BiasHook registered on the pruned model."""

from __future__ import annotations

import torch
from prunebench.reference_impl.structured import rewrite
from prunebench.reference_impl.structured.bias import bias_hooks
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with, with_globals

name = "broken-structured_bias_hook_left"


def _restore_bias_keeping_hook(module: nn.Module) -> None:
    """Bake the masked bias into ``module.bias``; BUG: the hook is never removed from ``_forward_hooks``."""
    if "_bias" not in module._parameters:
        return
    bias = module._parameters.pop("_bias")
    hook = next(iter(bias_hooks(module).values()), None)
    if bias is not None and hook is not None:
        with torch.no_grad():
            bias.copy_(hook.masked(bias))
    module.bias = bias


_apply_plans = with_globals(
    rewrite.apply_plans, bake=with_globals(rewrite.bake, restore_bias=_restore_bias_keeping_hook)
)


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(apply_plans=_apply_plans)
