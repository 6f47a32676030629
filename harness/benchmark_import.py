"""Turning pytest-benchmark's JSON (``--benchmark-json``) into a prunebench results file.

The performance suites put each case's identity (backend, device, operation, params) and its peak
memory into ``extra_info``; pytest-benchmark supplies the timing statistics. Only its documented
JSON output is read, not its internals.

pytest-benchmark writes a case whose rounds were cut short by a ``BaseException`` (pytest-timeout's
limit, Ctrl-C) with the rounds it had. Such a record is not a measurement: the suites mark a case
complete only after its last round and its memory run, and an incomplete one is left out here (its test
failed, and the run's outcomes say so), rather than losing the whole run's results or publishing a
median of the rounds that happened to finish.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .environment import MACHINE_INFO_KEY, MachineLoad, describe_environment
from .results import Case, Results, ResultsError

COMPLETE_KEY = "complete"
"""``extra_info`` flag the suites set to False before a case's first round and True after its last."""


def _split_out(params: str, token: str) -> list[str]:
    """``params`` without the ``-``-delimited ``token``: ``a-torch-pruning-b`` less ``torch-pruning``."""
    padded = f"-{params}-"
    if f"-{token}-" not in padded:
        return [params] if params else []
    before, _, after = padded.partition(f"-{token}-")
    return [piece for piece in (before.strip("-"), after.strip("-")) if piece]


def case_id(fullname: str, backend: str, device: str) -> str:
    """``suites/perf/test_x.py::test_y[reference-cpu-a-b]`` -> ``y[a-b]``.

    Backend and device are columns of a results table, so they are not part of a case's id.
    """
    _, _, test = fullname.partition("::")
    name, bracket, params = test.partition("[")
    parts = [params.rstrip("]")] if bracket else []
    for known in (backend, device):  # names may hold '-' (torch-pruning): strip them as whole tokens
        parts = [piece for part in parts for piece in _split_out(part, known)]
    suffix = f"[{'-'.join(parts)}]" if parts else ""
    return f"{name.removeprefix('test_')}{suffix}"


def _case(benchmark: dict[str, Any], source: str) -> Case:
    info = benchmark.get("extra_info", {})
    missing = [key for key in ("backend", "device", "operation") if key not in info]
    if missing:
        raise ResultsError(f"{source}: benchmark {benchmark.get('fullname')!r} lacks extra_info {missing}")
    stats = benchmark["stats"]
    extra = {key: value for key, value in info.items() if key not in {"backend", "device", "operation", "params"}}
    extra.pop("peak_memory_bytes", None)
    extra.pop("memory_method", None)
    extra.pop(COMPLETE_KEY, None)
    return Case(
        id=case_id(benchmark["fullname"], info["backend"], info["device"]),
        backend=info["backend"],
        device=info["device"],
        operation=info["operation"],
        params=dict(info.get("params", {})),
        stats={key: stats[key] for key in ("min", "median", "max", "iqr", "mean", "rounds") if key in stats},
        peak_memory_bytes=info.get("peak_memory_bytes"),
        memory_method=info.get("memory_method"),
        extra=extra,
    )


def _complete(benchmark: dict[str, Any]) -> bool:
    """False for a case the suite marked incomplete; a record without the flag (older JSON) counts as whole."""
    return benchmark.get("extra_info", {}).get(COMPLETE_KEY, True) is not False


def _machine_load(document: dict[str, Any]) -> MachineLoad | None:
    """The load the perf suite recorded around its run (``suites/perf/conftest.py``), if it did."""
    record = document.get("machine_info", {}).get(MACHINE_INFO_KEY)
    return MachineLoad.from_record(record) if isinstance(record, dict) else None


def results_from_benchmark_json(path: str | Path) -> Results:
    source = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ResultsError(f"{source}: cannot read pytest-benchmark JSON ({error})") from None
    benchmarks = document.get("benchmarks", [])
    cases = [_case(benchmark, source) for benchmark in benchmarks if _complete(benchmark)]
    backends = sorted({(case.backend, case.extra.get("backend_version", "unknown")) for case in cases})
    return Results(
        kind="perf",
        environment=describe_environment(_machine_load(document)),
        backends=[{"name": name, "version": version} for name, version in backends],
        cases=cases,
    )
