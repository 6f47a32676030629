"""Peak memory of one operation, in bytes above what was allocated when it started.

CUDA: the caching allocator's own statistics (``torch.cuda.max_memory_allocated`` after a reset).
CPU: torch has no allocator statistics on the CPU, and ``tracemalloc`` / RSS do not see (or do not
isolate) torch's C++ allocations. We run the operation under ``torch.profiler`` with
``profile_memory=True``, which records every allocation and free of torch's CPU allocator with its
address; the running sum of them in time order, maximised, is the peak. The allocator's own events are
read, not the per-op totals, so a temporary that an op allocates and frees inside itself counts too.
The profiler slows the operation down, so memory is measured in its own untimed run.

Only the operation's own blocks count: a free is matched by address to an allocation made inside the
window, and the free of a block that was there before is left out. The allocator reports such a free
only when it still remembers the block's size from an earlier profiled run (an address it handed out
then and again since), which depends on where malloc happened to put things: counting those frees made
torch's own ``prepare`` at 1024² measure 0, 4 or 8 MiB from one process to the next. So the figure is
the most the operation holds at once of what it allocated itself, an upper bound on the net growth
when it also frees memory it was given. Python's cyclic garbage collector is held off inside the window,
for the same reason: when it would run depends on everything allocated before.

Memory a C++ extension takes from ``malloc`` instead of torch's allocator is not seen on the CPU: the
reference's WeightNorm kernel takes its per-block codes from torch (seen), its short per-chunk lists of
the blocks near the cut from ``malloc`` (not seen).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import torch
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile

CPU_METHOD = (
    "torch.profiler(profile_memory=True): running sum of the CPU allocator events of blocks allocated in the run,"
    " each allocation"
)
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


def _own_block_events(allocations: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """(time, bytes) of the (time, address, bytes) allocator events that concern blocks allocated among them.

    A free is kept when its address was allocated earlier in the list and not freed since; the free of a
    block allocated before the list began is dropped (see the module docstring).
    """
    live: set[int] = set()
    own: list[tuple[int, int]] = []
    for time, address, size in sorted(allocations, key=lambda event: event[0]):
        if size > 0:
            live.add(address)
        elif address in live:
            live.discard(address)
        else:
            continue
        own.append((time, size))
    return own


def _allocator_events(profiler: profile) -> list[tuple[int, int, int]]:
    """Every (time ns, address, bytes) allocation (+) and free (-) the profiler recorded."""
    found: list[tuple[int, int, int]] = []
    pending = list(profiler.profiler.kineto_results.experimental_event_tree())
    while pending:
        event = pending.pop()
        pending.extend(event.children)
        if event.tag == _EventType.Allocation and event.extra_fields.alloc_size:
            found.append((event.start_time_ns, event.extra_fields.ptr, event.extra_fields.alloc_size))
    return found


class PeakMemoryProbe:
    """Context manager: ``with PeakMemoryProbe(device) as probe: ...`` then read ``probe.peak_bytes``."""

    def __init__(self, device: str) -> None:
        self.device = torch.device(device)
        self.peak_bytes: int | None = None
        self._profiler: profile | None = None
        self._start = 0
        self._collector_was_enabled = False

    def __enter__(self) -> PeakMemoryProbe:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
            self._profiler.__enter__()
        self._collector_was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._collector_was_enabled:
            gc.enable()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = max(0, torch.cuda.max_memory_allocated(self.device) - self._start)
            return
        assert self._profiler is not None
        self._profiler.__exit__(*exc_info)
        self.peak_bytes = _event_peak(_own_block_events(_allocator_events(self._profiler)))


def peak_memory_bytes(operation: Callable[[], Any], device: str) -> int:
    """Peak bytes allocated by torch while ``operation()`` runs, above the allocation at its start."""
    with PeakMemoryProbe(device) as probe:
        operation()
    assert probe.peak_bytes is not None
    return probe.peak_bytes
