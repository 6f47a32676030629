"""prune() shrinks a Linear/Conv2d's weight and bias but leaves out_features/out_channels at the old size."""

from __future__ import annotations

import torch
from prunebench.reference_impl.structured import rewrite
from prunebench.reference_impl.structured.lstm import rewrite_lstm
from prunebench.reference_impl.structured.planning import Plan

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with, with_globals

name = "broken-structured_sizes_not_updated"


def _shrink_tensors_only(plan: Plan, keep_index: torch.Tensor) -> None:
    """Keep the producer's rows ``keep_index`` (Linear/Conv2d) or its LSTM units."""
    producer = plan.chain.producer
    if producer.lstm_units is not None:
        rewrite_lstm(producer.module, producer.lstm_units)
        return
    rewrite._select(producer.module, ["weight", "bias"], 0, keep_index)  # BUG: declared size not updated


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(apply_plans=with_globals(rewrite.apply_plans, shrink_producer=_shrink_tensors_only))
