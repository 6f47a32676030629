"""prune() bakes only the layers that lose channels, so a masked layer that keeps all its rows keeps its mask."""

from __future__ import annotations

from collections.abc import Iterable

from prunebench.reference_impl.structured import rewrite
from prunebench.reference_impl.structured.planning import Plan
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with

name = "broken-structured_unshrunk_keeps_mask"


def _bake_producers_only(baked: Iterable[nn.Module], plans: Iterable[Plan]) -> None:
    """BUG: the masked modules are re-derived from the plans, which exist only for layers losing channels."""
    plans = list(plans)
    rewrite.apply_plans([plan.chain.producer.module for plan in plans], plans)


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(apply_plans=_bake_producers_only)
