"""A conformance run's one JSON document: who was tested where, every outcome, every failure.

One record per outcome the scoreboard counts (a test cell, what happened, how long the phase took, its
peak memory where measured), so the scoreboard can be recomputed from the file and a single cell
looked up without re-parsing ids. Timing is one wall-clock duration per phase, stated as such: a
conformance run measures nothing as a benchmark (the perf suite does, in its own files).

    {"schema": "prunebench-conformance", "schema_version": 1, "kind": "conformance", "created": "...",
     "incomplete": null | "cut short after N of M tests", "environment": {...}, "backends": [...],
     "scoreboard": {"cells": [...], "reasons": [...], "warnings": [...]},
     "records": [{"cell": {...}, "outcome", "reason", "duration_s", "peak_memory_bytes", "memory_method"}],
     "failures": [{"test", "backend", "seed", "message", "command", "reproduction", ...}],
     "stale_expected_failures": [...], "notes": [...]}

``read_conformance`` reads a document back (``prunebench run`` merges the documents of its lanes).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .cell import TestCell
from .failure import Failure
from .scoreboard import Scoreboard

SCHEMA = "prunebench-conformance"
SCHEMA_VERSION = 1
KIND = "conformance"


@dataclass(frozen=True)
class ConformanceRecord:
    """One counted outcome of one test cell."""

    cell: TestCell
    outcome: str
    reason: str | None
    duration_s: float
    """Wall time of the pytest phase that decided the outcome (setup for a skip, call for a run test)."""
    peak_memory_bytes: int | None = None
    memory_method: str | None = None
    process: int | None = None
    """The process the test ran in (its pid): tests of one process, in the order of records, ran in that order."""


@dataclass
class ConformanceRun:
    """Everything a run found, in the order the report files and the JSON document present it."""

    environment: dict[str, Any]
    backends: list[dict[str, Any]]
    scoreboard: Scoreboard
    records: list[ConformanceRecord] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    stale_expected_failures: list[str] = field(default_factory=list)
    incomplete: str | None = None
    created: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat())
    notes: list[str] = field(default_factory=list)
    """What the report says before its counts: a process ended after its last test, a cap on retries."""
    full_messages: dict[int, str] = field(default_factory=dict, repr=False)
    """The whole text of each failure (by index) whose message the report capped: written once, in a side file."""
    order: dict[int, list[str]] = field(default_factory=dict, repr=False)
    """Each process's tests in the order it ran them (reproduction ids): what a failure's replay draws on."""

    def document(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "created": self.created,
            "incomplete": self.incomplete,
            "environment": self.environment,
            "backends": self.backends,
            "scoreboard": {**self.scoreboard.as_dict(), "warnings": self.scoreboard.warnings()},
            "records": [asdict(record) for record in self.records],
            "failures": [asdict(f) | {"command": f.command()} for f in self.failures],
            "stale_expected_failures": self.stale_expected_failures,
            "notes": self.notes,
        }


def write_conformance(run: ConformanceRun, path: str | Path) -> Path:
    """Write the run's document atomically: a reader sees the previous file or the whole new one."""
    return write_text_atomic(path, json.dumps(run.document(), indent=1, sort_keys=True) + "\n")


def count_records(records: list[ConformanceRecord], scoreboard: Scoreboard | None = None) -> Scoreboard:
    """The scoreboard of ``records`` (into ``scoreboard``, emptied first, when given)."""
    board = scoreboard if scoreboard is not None else Scoreboard()
    board.counts.clear()
    board.reasons.clear()
    for record in records:
        board.record(record.cell.backend, record.cell.suite, record.outcome, record.reason)
    return board


def _failure(entry: dict[str, Any]) -> Failure:
    known = {item.name for item in fields(Failure)}
    values = {key: value for key, value in entry.items() if key in known}
    for key in ("backend_options", "extra_options"):
        values[key] = tuple(values.get(key, ()))
    return Failure(**values)


def read_conformance(path: str | Path) -> ConformanceRun:
    """A conformance document read back; its scoreboard is counted again from its records."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    records = [
        ConformanceRecord(**{**entry, "cell": TestCell(**entry["cell"])}) for entry in document.get("records", [])
    ]
    return ConformanceRun(
        environment=document.get("environment", {}),
        backends=document.get("backends", []),
        scoreboard=count_records(records),
        records=records,
        failures=[_failure(entry) for entry in document.get("failures", [])],
        stale_expected_failures=list(document.get("stale_expected_failures", [])),
        incomplete=document.get("incomplete"),
        created=document.get("created", ""),
        notes=list(document.get("notes", [])),
    )
