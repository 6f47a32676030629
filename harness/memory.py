"""Peak memory of one operation, in bytes above what was allocated when it started.

CUDA: the caching allocator's own statistics (``torch.cuda.max_memory_allocated`` after a reset).
CPU: torch has no allocator statistics on the CPU, and ``tracemalloc`` / RSS do not see (or do not
isolate) torch's C++ allocations. We run the operation under ``torch.profiler`` with
``profile_memory=True``, which records every allocation and free of torch's CPU allocator as
events; the running sum of those events in time order, maximised, is the peak. Granularity is one
aten op: a temporary that an op allocates and frees *inside itself* is netted out, so the CPU figure
is a lower bound on the true peak (exact for Python-level temporaries, which is where sparsifiers
spend memory). The profiler slows the operation down, so memory is measured in its own untimed run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

CPU_METHOD = "torch.profiler(profile_memory=True): running sum of CPU allocator events, op granularity"
CUDA_METHOD = "torch.cuda.max_memory_allocated after reset_peak_memory_stats"


def memory_method(device: str) -> str:
    """How peak memory is measured on ``device`` (recorded next to every number)."""
    return CUDA_METHOD if torch.device(device).type == "cuda" else CPU_METHOD


def _event_peak(events: list[tuple[int, int]]) -> int:
    """Max running sum of (time, bytes) events; allocations positive, frees negative."""
    current = peak = 0
    for _, size in sorted(events, key=lambda event: event[0]):
        current += size
        peak = max(peak, current)
    return peak


class PeakMemoryProbe:
    """Context manager: ``with PeakMemoryProbe(device) as probe: ...`` then read ``probe.peak_bytes``."""

    def __init__(self, device: str) -> None:
        self.device = torch.device(device)
        self.peak_bytes: int | None = None
        self._profiler: profile | None = None
        self._start = 0

    def __enter__(self) -> PeakMemoryProbe:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
            self._profiler.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = max(0, torch.cuda.max_memory_allocated(self.device) - self._start)
            return
        assert self._profiler is not None
        self._profiler.__exit__(*exc_info)
        events = [
            (event.time_range.start, event.self_cpu_memory_usage)
            for event in self._profiler.events()
            if event.self_cpu_memory_usage
        ]
        self.peak_bytes = _event_peak(events)


def peak_memory_bytes(operation: Callable[[], Any], device: str) -> int:
    """Peak bytes allocated by torch while ``operation()`` runs, above the allocation at its start."""
    with PeakMemoryProbe(device) as probe:
        operation()
    assert probe.peak_bytes is not None
    return probe.peak_bytes
