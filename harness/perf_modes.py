"""How a perf case is run: torch's thread count during it, and whether a CPU-bound load runs beside it.

One run measures each case in several modes, side by side (backends alternate case by case within each):
``1thread`` (``torch.set_num_threads(1)``: the code's own cost, no parallel overhead), ``threads`` (torch's
default thread count: what a user gets), and with ``--perf-contention`` also ``contended`` (the default
thread count while one busy process per core runs beside it, ``harness.cpu_load``: a machine doing other
work, where code made of many parallel regions stalls and its worst round collapses). The mode is part of
each case's id (``[...-1thread]``) and its params (``mode``, ``threads``, ``contention``), so tables and
``compare`` set a case only beside the same case in the same mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .cpu_load import CpuLoad


@dataclass(frozen=True)
class PerfMode:
    """One way of running the perf cases."""

    name: str
    """Its token in case ids and its ``params["mode"]``."""
    label: str
    """What tables and plots call it."""
    one_thread: bool
    contention: bool


ONE_THREAD = PerfMode("1thread", "1 thread", one_thread=True, contention=False)
DEFAULT_THREADS = PerfMode("threads", "default threads", one_thread=False, contention=False)
CONTENDED = PerfMode("contended", "default threads, every core busy", one_thread=False, contention=True)
MODES = {mode.name: mode for mode in (ONE_THREAD, DEFAULT_THREADS, CONTENDED)}
THREAD_CHOICES = {"1": ONE_THREAD, "default": DEFAULT_THREADS}
"""``--perf-threads`` values."""


def modes_for(threads: str, contention: bool) -> list[PerfMode]:
    """The modes of ``--perf-threads`` (``1``, ``default`` or both, comma-separated) and ``--perf-contention``."""
    names = [part.strip() for part in threads.split(",") if part.strip()]
    unknown = [name for name in names if name not in THREAD_CHOICES]
    if unknown or not names:
        raise ValueError(f"--perf-threads {threads!r}: expected 1, default or 1,default")
    modes = list(dict.fromkeys(THREAD_CHOICES[name] for name in names))
    return [*modes, CONTENDED] if contention else modes


@dataclass(frozen=True)
class RunningMode:
    """A mode as it ran: the thread count torch had, and how many busy processes ran beside it."""

    mode: PerfMode
    threads: int
    load_processes: int

    def params(self) -> dict[str, object]:
        """What a case records of its mode (its identity, so the same for every backend)."""
        return {"mode": self.mode.name, "threads": self.threads, "contention": self.mode.contention}


@contextmanager
def running(mode: PerfMode) -> Iterator[RunningMode]:
    """Run the block in ``mode``; torch's thread count is restored and the load stopped however it ends."""
    previous = torch.get_num_threads()
    try:
        if mode.one_thread:
            torch.set_num_threads(1)
        if mode.contention:
            with CpuLoad() as load:
                yield RunningMode(mode, torch.get_num_threads(), load.processes)
        else:
            yield RunningMode(mode, torch.get_num_threads(), 0)
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
