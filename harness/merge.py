"""Merging results files from several machines into one, with the differences that matter flagged.

A device-matrix run spread over machines (``pytest -d --tx ...``, or one run per machine) leaves one
results file per machine. Merging keeps every case and records where it came from; two things are
flagged as conflicts, because a table built from them would silently compare unlike with unlike:

* **environment**: the machines ran different torch builds or Python versions (``comparability.SOFTWARE_KEYS``),
  or one backend name resolved to different versions — ratios across such columns measure the
  versions, not the code;
* **collision**: the same case (id, backend, device) was measured on two machines. Both are kept:
  each colliding case's device is qualified with its machine (``cpu@host-a``), so ``prunebench
  table --by device`` shows them side by side instead of one hiding the other.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from .comparability import SOFTWARE_KEYS, differences
from .errors import UsageError
from .results import Case, Results


@dataclass
class MergeOutcome:
    results: Results
    conflicts: list[str]


def machine_label(run: Results, index: int) -> str:
    """A short name for the machine a run came from: its host, else its file name, else its position."""
    host = run.environment.get("host")
    if host:
        return str(host)
    return Path(run.source).stem if run.source else f"run{index}"


def _unique_labels(runs: list[Results]) -> list[str]:
    labels = [machine_label(run, index) for index, run in enumerate(runs)]
    counts: dict[str, int] = defaultdict(int)
    unique = []
    for label in labels:
        counts[label] += 1
        unique.append(label if labels.count(label) == 1 else f"{label}#{counts[label]}")
    return unique


def _environment_conflicts(runs: list[Results], labels: list[str]) -> list[str]:
    conflicts = [f"environment: {line}" for line in differences(list(zip(labels, runs, strict=True)), SOFTWARE_KEYS)]
    versions: dict[str, dict[str, str]] = defaultdict(dict)
    for run, label in zip(runs, labels, strict=True):
        for backend in run.backends:
            versions[str(backend.get("name"))][label] = str(backend.get("version"))
    for name, by_machine in sorted(versions.items()):
        if len(set(by_machine.values())) > 1:
            listed = ", ".join(f"{version} ({label})" for label, version in by_machine.items())
            conflicts.append(f"environment: backend {name!r} has different versions: {listed}")
    return conflicts


def _tagged_cases(runs: list[Results], labels: list[str]) -> tuple[list[Case], list[str]]:
    owners: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for run, label in zip(runs, labels, strict=True):
        for case in run.cases:
            owners[case.key()].append(label)
    colliding = {key for key, machines in owners.items() if len(machines) > 1}
    cases = []
    for run, label in zip(runs, labels, strict=True):
        for case in run.cases:
            device = f"{case.device}@{label}" if case.key() in colliding else case.device
            cases.append(replace(case, device=device, extra={**case.extra, "machine": label}))
    conflicts = [
        f"collision: {case_id} on {backend}/{device} measured on {', '.join(owners[(case_id, backend, device)])}"
        f" — kept as {', '.join(f'{device}@{m}' for m in owners[(case_id, backend, device)])}"
        for case_id, backend, device in sorted(colliding)
    ]
    return cases, conflicts


def merge_results(runs: list[Results]) -> MergeOutcome:
    """One results document holding every case of ``runs``, and the conflicts found on the way."""
    if len(runs) < 2:
        raise UsageError(f"merge needs at least two results files, got {len(runs)}")
    kinds = {run.kind for run in runs}
    if len(kinds) > 1:  # load_results already refuses a non-perf file; records built in code are checked here
        raise UsageError(f"cannot merge results of different kinds: {sorted(kinds)}")
    labels = _unique_labels(runs)
    cases, collisions = _tagged_cases(runs, labels)
    backends = {(b.get("name"), b.get("version")): b for run in runs for b in run.backends}
    environment = {
        "merged_from": [
            {"machine": label, "source": run.source, "created": run.created, **run.environment}
            for run, label in zip(runs, labels, strict=True)
        ]
    }
    merged = Results(kind=runs[0].kind, environment=environment, backends=list(backends.values()), cases=cases)
    return MergeOutcome(merged, _environment_conflicts(runs, labels) + collisions)
