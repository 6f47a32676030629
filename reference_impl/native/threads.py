"""How many threads a compiled kernel's pass over a weight uses: torch's count, fewer for small weights."""

from __future__ import annotations

import torch

ELEMENTS_PER_THREAD = 1 << 22
"""A call uses one more thread per this many elements (16 MiB of float32), up to torch's thread count. A
smaller weight's pass takes a few milliseconds, and a second thread then mostly waits: for a core the OS
gave to something else, a WeightNorm step of ~1 ms at 1024² took 1.7-2.5x longer with two threads than with
one (median of 60, results/cpu/contention_probe.md), which was 1M elements against the earlier 256K a thread."""


def threads_for(elements: int) -> int:
    """Threads for a weight of ``elements``: torch's count (``torch.set_num_threads``), fewer for small weights."""
    return max(1, min(torch.get_num_threads(), elements // ELEMENTS_PER_THREAD))
