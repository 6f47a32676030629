"""prune() keeps the next layer's first k input columns instead of the columns of the kept channels."""

from __future__ import annotations

import torch
from prunebench.reference_impl.structured import rewrite
from prunebench.reference_impl.structured.planning import ConsumerPlan

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with, with_globals

name = "broken-structured_prefix_columns"


def _shrink_consumer_to_prefix(consumer: ConsumerPlan, keep_index: torch.Tensor) -> None:
    """BUG: ``weight[:, :k]`` is right only when the masked channels are the last ones."""
    rewrite.shrink_consumer(consumer, torch.arange(keep_index.numel(), device=keep_index.device))


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(apply_plans=with_globals(rewrite.apply_plans, shrink_consumer=_shrink_consumer_to_prefix))
