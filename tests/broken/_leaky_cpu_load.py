"""A contention load whose ``stop`` forgets its busy processes (they spin on until their deadline).

Not a backend: the broken twin of ``harness.cpu_load.CpuLoad`` that tests/test_perf_modes.py's checks of
"no busy process outlives its block" must catch.
"""

from __future__ import annotations

from prunebench.harness.cpu_load import CpuLoad


class LeakyCpuLoad(CpuLoad):
    def stop(self) -> None:
        self.leaked = self.children
        self.children = []  # BUG: dropped, neither terminated nor reaped

    def really_stop(self) -> None:
        """The test's own clean-up: the leaked processes, terminated and reaped."""
        self.children = getattr(self, "leaked", [])
        super().stop()
