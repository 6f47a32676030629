"""The environment a results file was measured in: enough to tell two machines' numbers apart, and a busy one.

Besides host, CPU, torch build and Python, a perf run records the machine's **load**: the load average
at its start and end, and the share of the machine's CPU time that *other* processes took while it
ran (from ``/proc/stat``, less this process's own time, so the benchmark does not count against
itself as it does in the end load average). ``MachineLoad.busy_reasons`` is the one rule that says
when numbers were measured on a busy machine; reports and ``compare`` warn with its words.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

BUSY_LOAD_PER_CORE = 0.5
"""A 1-minute load average above half a runnable process per core before the run: other work was
competing for the cores the benchmark was about to use (the issue that asked for this recorded 3.7 on 2 cores)."""
BUSY_OTHERS_SHARE = 0.25
"""Other processes (and, on a VM, the hypervisor's steal time) took over a quarter of all cores' time during the run."""
PROC_STAT = Path("/proc/stat")
MACHINE_INFO_KEY = "prunebench_load"
"""Where the perf suite puts the run's ``MachineLoad`` in pytest-benchmark's ``machine_info``."""
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)
"""``/proc/stat`` cpu columns that are work: user, nice, system, irq, softirq, steal (not idle, iowait)."""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision(directory: Path | None = None) -> str | None:
    """The checkout's commit (with ``-dirty`` when it has changes), or None outside git."""
    where = directory or Path(__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return revision or None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the platform has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores have spent working since boot, or None without ``/proc/stat``."""
    try:
        first = PROC_STAT.read_text().splitlines()[0].split()
        ticks = sum(int(first[1 + column]) for column in BUSY_COLUMNS)
    except (OSError, IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds this process and its waited-for children have used."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class CpuSample:
    """The machine's counters at one moment; two samples bracket a run."""

    machine_busy_s: float | None
    own_s: float
    monotonic_s: float
    load_average: list[float] | None

    @classmethod
    def now(cls) -> CpuSample:
        return cls(_machine_busy_seconds(), _own_seconds(), time.monotonic(), load_average())


@dataclass(frozen=True)
class MachineLoad:
    """How busy the machine was around and during a run (stored as ``environment.load``)."""

    cpu_count: int
    load_average_start: list[float] | None
    load_average_end: list[float] | None
    others_cpu_share: float | None
    """Other processes' CPU time during the run over (wall time x cores); None without ``/proc/stat``."""
    wall_s: float

    @classmethod
    def between(cls, start: CpuSample, end: CpuSample, cores: int | None = None) -> MachineLoad:
        cores = cores or os.cpu_count() or 1
        wall = max(end.monotonic_s - start.monotonic_s, 0.0)
        share = None
        if start.machine_busy_s is not None and end.machine_busy_s is not None and wall > 0:
            others = (end.machine_busy_s - start.machine_busy_s) - (end.own_s - start.own_s)
            share = round(max(others, 0.0) / (wall * cores), 3)
        return cls(cores, start.load_average, end.load_average, share, round(wall, 3))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> MachineLoad:
        return cls(**{item.name: record[item.name] for item in fields(cls)})

    def busy_reasons(self) -> list[str]:
        """Why this machine counts as busy (empty when quiet): the numbers and the limits they passed."""
        reasons = []
        start = self.load_average_start
        if start is not None and start[0] / self.cpu_count > BUSY_LOAD_PER_CORE:
            reasons.append(
                f"load average {start[0]:g} on {self.cpu_count} cores at the start "
                f"(above {BUSY_LOAD_PER_CORE:g} per core)"
            )
        if self.others_cpu_share is not None and self.others_cpu_share > BUSY_OTHERS_SHARE:
            reasons.append(
                f"other processes took {self.others_cpu_share:.0%} of the CPU time during the run "
                f"(above {BUSY_OTHERS_SHARE:.0%})"
            )
        return reasons


def busy_reasons(environment: dict[str, Any]) -> list[str]:
    """``MachineLoad.busy_reasons`` of a results file's environment; empty when it recorded no load."""
    record = environment.get("load")
    return MachineLoad.from_record(record).busy_reasons() if isinstance(record, dict) else []


def describe_environment(load: MachineLoad | None = None) -> dict[str, object]:
    """Host, torch build, Python, CPU, GPU, core count, load (``load`` when the run was bracketed) and git revision."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "host": platform.node(),
        "torch": torch.__version__,
        "torch_git": torch.version.git_version,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu_name": gpu,
        "load_average": load_average(),
        "load": asdict(load) if load is not None else None,
        "git_revision": git_revision(),
    }
