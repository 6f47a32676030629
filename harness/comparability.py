"""Whether two runs' numbers can be compared: the same hardware and software, and quiet machines.

One rule for every reader of results: ``compare`` warns about differences in ``HARDWARE_KEYS``, ``SOFTWARE_KEYS``
and ``RUN_KEYS`` (a ratio across CPUs, torch builds or default thread counts measures the machines, not the code),
``merge`` about ``SOFTWARE_KEYS`` only (different machines are what it is for), and tables and ``compare`` about any
run measured on a busy machine (``harness.environment.MachineLoad.busy_reasons``). A merged file holds one
environment per machine under ``merged_from``; each is looked at.

"""

from __future__ import annotations

from typing import Any

from .environment import busy_reasons
from .results import Results

HARDWARE_KEYS = ("cpu_model", "cpu_count", "gpu_name")
SOFTWARE_KEYS = ("torch", "torch_git", "python")
"""``torch`` is the version with its build suffix (``2.13.0+cpu``); ``torch_git`` tells two builds of it apart."""
RUN_KEYS = ("torch_threads",)
"""torch's default thread count: the ``threads`` mode's cases ran at it, so two runs' differ when it does."""


def machine_environments(run: Results) -> list[tuple[str, dict[str, Any]]]:
    """(label, environment) of every machine behind ``run``: one, or each entry of a merged file."""
    merged = run.environment.get("merged_from")
    machines = merged if isinstance(merged, list) else [run.environment]
    return [(str(env.get("machine") or env.get("host") or run.source or "?"), env) for env in machines]


def recorded_values(run: Results, key: str) -> set[str]:
    """The values ``run``'s machines recorded for ``key`` (absent and null left out: nothing to compare)."""
    return {str(env[key]) for _, env in machine_environments(run) if env.get(key) is not None}


def differences(runs: list[tuple[str, Results]], keys: tuple[str, ...]) -> list[str]:
    """One line per key whose recorded values differ among the named ``runs``."""
    lines = []
    for key in keys:
        by_run = {name: recorded_values(run, key) for name, run in runs}
        values = set().union(*by_run.values())
        if len(values) > 1:
            listed = ", ".join(
                f"{', '.join(sorted(found)) or 'not recorded'} ({name})" for name, found in by_run.items()
            )
            lines.append(f"{key} differs: {listed}")
    return lines


def busy_warnings(runs: list[Results]) -> list[str]:
    """One line per machine that recorded a busy run, naming the file, the machine and why."""
    lines: list[str] = []
    for run in runs:
        for label, environment in machine_environments(run):
            reasons = busy_reasons(environment)
            where = f"{run.source} (host {label})" if run.source else f"this run (host {label})"
            line = f"{where} was measured on a busy machine: {'; '.join(reasons)}"
            if reasons and line not in lines:  # a file compared with itself is one warning
                lines.append(line)
    return lines
