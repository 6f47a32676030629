"""prune() compacts kept rows to the front of the dense weight in place and keeps a narrow() view of it."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from prunebench.reference_impl.structured import rewrite
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with, with_globals

name = "broken-structured_views_of_dense"


def _select_by_compacting(module: nn.Module, names: Iterable[str], dim: int, index: torch.Tensor) -> None:
    """Move the kept slices to the front, then keep a view of them: no copy, but the dense storage stays alive."""
    for name in names:
        tensor = getattr(module, name)
        if tensor is None:
            continue
        dense = tensor.detach()
        dense.narrow(dim, 0, index.numel()).copy_(dense.index_select(dim, index))
        compact = dense.narrow(dim, 0, index.numel())  # BUG: a view into the dense tensor's storage
        if name in module._buffers:
            module._buffers[name] = compact
        else:
            setattr(module, name, nn.Parameter(compact, requires_grad=tensor.requires_grad))


_apply_plans = with_globals(
    rewrite.apply_plans,
    shrink_producer=with_globals(rewrite.shrink_producer, _select=_select_by_compacting),
    shrink_channel_module=with_globals(rewrite.shrink_channel_module, _select=_select_by_compacting),
)


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(apply_plans=_apply_plans)
