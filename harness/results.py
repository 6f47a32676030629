"""Results files: one JSON document per run, with a versioned schema, written atomically.

A file holds the environment it was measured in, the backends measured, and one record per case::

    {"schema": "prunebench-results", "schema_version": 1, "kind": "perf" | "conformance",
     "created": "...", "environment": {...}, "backends": [{"name", "version", "source"}],
     "cases": [{"id", "backend", "device", "operation", "params": {...},
                "stats": {"min", "median", "iqr", "mean", "rounds"},   # seconds
                "peak_memory_bytes": int | null, "memory_method": str | null, "extra": {...}}]}

Files are plain JSON (never pickles), so reading one cannot run code.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic

SCHEMA = "prunebench-results"
SCHEMA_VERSION = 1
KINDS = ("perf", "conformance")
CASE_KEYS = ("id", "backend", "device", "operation", "params", "stats", "peak_memory_bytes")
STAT_KEYS = ("min", "median", "iqr", "mean", "rounds")


class ResultsError(ValueError):
    """A results file that cannot be used: unreadable, not JSON, or not of our schema."""


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


@dataclass
class Results:
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


def _require(condition: bool, path: str, problem: str) -> None:
    if not condition:
        raise ResultsError(f"{path}: {problem}")


def _parse_case(raw: object, path: str, index: int) -> Case:
    where = f"cases[{index}]"
    _require(isinstance(raw, dict), path, f"{where} is not an object")
    missing = [key for key in CASE_KEYS if key not in raw]
    _require(not missing, path, f"{where} lacks {missing}")
    stats = raw["stats"]
    _require(isinstance(stats, dict) and all(k in stats for k in STAT_KEYS), path, f"{where}.stats needs {STAT_KEYS}")
    _require(
        all(isinstance(stats[k], (int, float)) and stats[k] >= 0 for k in STAT_KEYS), path, f"{where}.stats not >= 0"
    )
    memory = raw["peak_memory_bytes"]
    _require(memory is None or isinstance(memory, int), path, f"{where}.peak_memory_bytes must be an int or null")
    known = {k: raw[k] for k in (*CASE_KEYS, "memory_method", "extra") if k in raw}
    return Case(**known)


def parse_results(text: str, path: str = "<text>") -> Results:
    """Parse and validate a results document; every problem names the file and the bad part."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(
            f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    _require(isinstance(document, dict), path, "top level is not an object")
    _require(document.get("schema") == SCHEMA, path, f"schema is {document.get('schema')!r}, expected {SCHEMA!r}")
    version = document.get("schema_version")
    _require(
        version == SCHEMA_VERSION, path, f"schema_version {version!r} is not supported (expected {SCHEMA_VERSION})"
    )
    _require(document.get("kind") in KINDS, path, f"kind {document.get('kind')!r} is not one of {KINDS}")
    _require(isinstance(document.get("cases"), list), path, "'cases' is missing or not a list")
    cases = [_parse_case(raw, path, index) for index, raw in enumerate(document["cases"])]
    return Results(
        kind=document["kind"],
        environment=dict(document.get("environment") or {}),
        backends=list(document.get("backends") or []),
        cases=cases,
        created=str(document.get("created", "")),
        source=path,
    )


def load_results(path: str | Path) -> Results:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ResultsError(f"{path}: cannot read ({error.strerror})") from None
    return parse_results(text, str(path))
