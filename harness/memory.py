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


def _cuda_peak(operation: Callable[[], Any], device: torch.device) -> int:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    operation()
    torch.cuda.synchronize(device)
    return max(0, torch.cuda.max_memory_allocated(device) - start)


def _event_peak(events: list[tuple[int, int]]) -> int:
    """Max running sum of (time, bytes) events; allocations positive, frees negative."""
    current = peak = 0
    for _, size in sorted(events, key=lambda event: event[0]):
        current += size
        peak = max(peak, current)
    return peak


def _cpu_peak(operation: Callable[[], Any]) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        operation()
    events = [
        (event.time_range.start, event.self_cpu_memory_usage)
        for event in profiler.events()
        if event.self_cpu_memory_usage
    ]
    return _event_peak(events)


def peak_memory_bytes(operation: Callable[[], Any], device: str) -> int:
    """Peak bytes allocated by torch while ``operation()`` runs, above the allocation at its start."""
    target = torch.device(device)
    if target.type == "cuda":
        return _cuda_peak(operation, target)
    return _cpu_peak(operation)
