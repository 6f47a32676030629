"""prune() takes an LSTM's gate rows as interleaved per unit (4u..4u+3) where torch stacks them gate by gate."""

from __future__ import annotations

import torch
from prunebench.reference_impl.structured import lstm, rewrite

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with, with_globals

name = "broken-structured_lstm_interleaved_gates"


def _interleaved_gate_rows(units: torch.Tensor, hidden_size: int) -> torch.Tensor:
    """BUG: takes rows ``unit * 4 + gate``; torch stacks them gate by gate, ``gate * hidden_size + unit``."""
    offsets = torch.arange(lstm.GATES, device=units.device)
    return (units[:, None] * lstm.GATES + offsets[None, :]).reshape(-1)


_rewrite_lstm = with_globals(lstm.rewrite_lstm, _gate_rows=_interleaved_gate_rows)
_apply_plans = with_globals(
    rewrite.apply_plans, shrink_producer=with_globals(rewrite.shrink_producer, rewrite_lstm=_rewrite_lstm)
)


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(apply_plans=_apply_plans)
