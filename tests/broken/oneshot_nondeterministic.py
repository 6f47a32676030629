"""SparseGPTSparsifier breaks near-ties of its scores with a jitter seeded from the clock, not from torch's seed."""

from __future__ import annotations

import time

import torch
from prunebench.reference_impl import sparsegpt

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import with_globals

name = "broken-oneshot_nondeterministic"
JITTER = 1e-2


def _jittered_lowest(scores: torch.Tensor, count: int, pruned: torch.Tensor) -> torch.Tensor:
    generator = torch.Generator(device=scores.device).manual_seed(time.perf_counter_ns())  # BUG: the clock
    jitter = torch.rand(scores.shape, generator=generator, device=scores.device, dtype=scores.dtype)
    return sparsegpt.lowest_scores(scores * (1 + JITTER * jitter), count, pruned)


_jittered_block = with_globals(sparsegpt.prune_block, lowest_scores=_jittered_lowest)
_jittered = with_globals(sparsegpt.sparsegpt, lowest_scores=_jittered_lowest, prune_block=_jittered_block)


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    update_mask = with_globals(reference_impl.SparseGPTSparsifier.update_mask, sparsegpt=_jittered)
