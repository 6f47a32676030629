"""Device synchronisation around timed code: on CUDA, kernels run asynchronously and must be waited for.

Timing itself is pytest-benchmark's (``benchmark.pedantic`` in the perf suite's ``measure`` fixture).
"""

from __future__ import annotations

import torch


def synchronize(device: str) -> None:
    """Wait for every kernel queued on ``device`` (nothing to wait for on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))
