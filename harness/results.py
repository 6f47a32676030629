"""Results files: one JSON document per run, with a versioned schema, written atomically.

A file holds the environment it was measured in, the backends measured, and one record per case::

    {"schema": "prunebench-results", "schema_version": 1, "kind": "perf",
     "created": "...", "environment": {...}, "backends": [{"name", "version", "source"}],
     "cases": [{"id", "backend", "device", "operation", "params": {...},
                "stats": {"min", "median", "max", "iqr", "mean", "rounds"},   # seconds; max optional
                "peak_memory_bytes": int | null, "memory_method": str | null, "extra": {...}}]}

Files are plain JSON (never pickles), so reading one cannot run code. Reading validates the whole
document first (``harness.results_schema``): a file that loads is one whose numbers can be trusted to
be finite, non-negative and one per case.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .results_schema import PERF, SCHEMA, SCHEMA_VERSION, ResultsError, validate_document

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Case",
    "Results",
    "ResultsError",
    "cases_of",
    "load_results",
    "parse_results",
    "write_results",
]
CASE_FIELDS = ("id", "backend", "device", "operation", "params", "stats", "peak_memory_bytes", "memory_method", "extra")


@dataclass
class Case:
    """One measured case: an operation with its parameters, on one backend and device."""

    id: str
    backend: str
    device: str
    operation: str
    params: dict[str, Any]
    stats: dict[str, float]
    peak_memory_bytes: int | None = None
    memory_method: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, str, str]:
        """What identifies a case across runs: its id, backend and device."""
        return (self.id, self.backend, self.device)

    @property
    def median(self) -> float:
        return float(self.stats["median"])

    @property
    def worst(self) -> float | None:
        """The slowest timed round (None in files from before it was recorded): the tail a busy machine stretches."""
        return float(self.stats["max"]) if "max" in self.stats else None

    @property
    def mode(self) -> str | None:
        """The perf mode it ran in (``harness.perf_modes``); None in files from before modes."""
        mode = self.params.get("mode")
        return str(mode) if mode is not None else None


@dataclass
class Results:
    """One run's results file: its kind, where it was measured, what was measured, and its cases."""

    kind: str
    environment: dict[str, Any]
    backends: list[dict[str, Any]]
    cases: list[Case]
    created: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat())
    source: str = ""

    def to_json(self) -> str:
        document = {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "created": self.created,
            "environment": self.environment,
            "backends": self.backends,
            "cases": [vars(case) for case in self.cases],
        }
        return json.dumps(document, indent=1, sort_keys=True) + "\n"


def write_results(results: Results, path: str | Path) -> Path:
    """Write ``results`` atomically: a reader sees the old file or the whole new one."""
    return write_text_atomic(path, results.to_json())


def parse_results(text: str, path: str = "<text>", kind: str = PERF) -> Results:
    """Parse and validate a results document of ``kind``; every problem names the file and the bad part."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(
            f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise ResultsError(f"{path}: not usable JSON (nested too deeply to read)") from None
    validate_document(document, path, kind)
    cases = [Case(**{key: raw[key] for key in CASE_FIELDS if key in raw}) for raw in document["cases"]]
    return Results(
        kind=document["kind"],
        environment=document["environment"],
        backends=document["backends"],
        cases=cases,
        created=document["created"],
        source=path,
    )


def load_results(path: str | Path, kind: str = PERF) -> Results:
    """Read and validate the results file at ``path``, which must be of ``kind`` (perf unless said)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ResultsError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ResultsError(f"{path}: not UTF-8 text (byte {error.start}), expected a JSON results file") from None
    return parse_results(text, str(path), kind)


def cases_of(runs: Iterable[Results]) -> list[Case]:
    """Every case of ``runs``, refusing one (id, backend, device) found in two files.

    A table cell or a plot point holds one number: two would silently show one and hide the other.
    ``prunebench merge`` is the way to keep both (it tells them apart by machine).
    """
    sources: dict[tuple[str, str, str], str] = {}
    cases = []
    for run in runs:
        for case in run.cases:
            if case.key() in sources:
                raise ResultsError(
                    f"{run.source or 'a run'}: case {case.id} on {case.backend}/{case.device} is also in "
                    f"{sources[case.key()]}: expected each (id, backend, device) in one file "
                    f"(prunebench merge keeps both, side by side)"
                )
            sources[case.key()] = run.source or "another run"
            cases.append(case)
    return cases
