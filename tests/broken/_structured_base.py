"""What every broken structured backend shares: all nine reference names, and a way to alter one step of prune().

A broken module star-imports this, then redefines the one class it breaks. ``prune()`` runs a
pipeline of module-level helpers (``pruning.prune_traced`` -> ``plan`` / ``apply_plans`` -> ...), so
a bug deep inside it is a chain of ``with_globals`` copies ending in ``prune_with``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prunebench.reference_impl import (
    BaseStructuredSparsifier,
    FakeStructuredSparsity,
    FPGMPruner,
    LSTMSaliencyPruner,
    SaliencyPruner,
)
from prunebench.reference_impl.structured import pruning, rewrite

from prunebench import reference_impl

from ._base import *  # noqa: F403 - the four sparsifier names
from ._base import __all__ as _sparsifier_names
from ._base import with_globals

__all__ = [
    *_sparsifier_names,
    "BaseStructuredSparsifier",
    "FPGMPruner",
    "FakeStructuredSparsity",
    "LSTMSaliencyPruner",
    "SaliencyPruner",
]


def prune_with(**helpers: Any) -> Callable[..., Any]:
    """A copy of the reference ``BaseStructuredSparsifier.prune`` whose ``prune_traced`` sees ``helpers``.

    ``helpers`` replace globals of ``reference_impl.structured.pruning`` (``plan``, ``apply_plans``,
    ``producer_for``, ...); the reference modules themselves are left untouched.
    """
    prune_traced = with_globals(pruning.prune_traced, **helpers)
    return with_globals(reference_impl.BaseStructuredSparsifier.prune, prune_traced=prune_traced)


def prune_storing_with(set_param: Callable[..., Any]) -> Callable[..., Any]:
    """A copy of the reference ``prune`` that stores every shrunk Linear/Conv2d/norm tensor through ``set_param``.

    ``set_param(module, name, tensor)`` replaces ``rewrite._set_param`` in consumers, producers and
    per-channel modules (LSTMs are rewritten elsewhere and keep the reference's behaviour).
    """
    select = with_globals(rewrite._select, _set_param=set_param)
    apply_plans = with_globals(
        rewrite.apply_plans,
        shrink_consumer=with_globals(rewrite.shrink_consumer, _set_param=set_param),
        shrink_producer=with_globals(rewrite.shrink_producer, _select=select),
        shrink_channel_module=with_globals(rewrite.shrink_channel_module, _select=select),
    )
    return prune_with(apply_plans=apply_plans)
