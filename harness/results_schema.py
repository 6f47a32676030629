"""The perf results file's schema, checked field by field before any number in it is used.

``compare`` of a baseline that says ``Infinity``, a table of a file whose median is ``"fast"``, or a
merge of a file that lists one case twice would each give a wrong verdict or a traceback. Here every
rule of the schema is written once, as data, and the first broken rule becomes one line that names
the file, the case, the field, the value found and what was expected. ``harness.results`` builds its
records only from documents that passed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SCHEMA = "prunebench-results"
SCHEMA_VERSION = 1
PERF = "perf"
CONFORMANCE = "conformance"
SHOWN_VALUE_CHARS = 60
"""A bad value is quoted in the error up to this length: enough to recognise it, never a whole file."""


class ResultsError(ValueError):
    """A results file that cannot be used: unreadable, not JSON, or not of our schema (one line, no traceback)."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _non_negative(value: object) -> bool:
    return _is_number(value) and math.isfinite(value) and value >= 0


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def _load_triple(value: object) -> bool:
    return isinstance(value, list) and len(value) == 3 and all(_non_negative(item) for item in value)


@dataclass(frozen=True)
class Rule:
    """One field: how to check it, what to say it should be, and whether it may be absent."""

    name: str
    check: Callable[[object], bool]
    expected: str
    required: bool = True


CASE_RULES = (
    Rule("id", _text, "a non-empty string"),
    Rule("backend", _text, "a non-empty string"),
    Rule("device", _text, "a non-empty string"),
    Rule("operation", _text, "a non-empty string"),
    Rule("params", lambda v: isinstance(v, dict), "an object"),
    Rule("stats", lambda v: isinstance(v, dict), "an object of timing statistics"),
    Rule("peak_memory_bytes", lambda v: v is None or (_is_count(v) and v >= 0), "an integer >= 0 (bytes) or null"),
    Rule("memory_method", _optional(lambda v: isinstance(v, str)), "a string or null", required=False),
    Rule("extra", lambda v: isinstance(v, dict), "an object", required=False),
)
STAT_RULES = (
    *(Rule(name, _non_negative, "a finite number >= 0 (seconds)") for name in ("min", "median", "iqr", "mean")),
    Rule("max", _non_negative, "a finite number >= 0 (seconds, the worst round)", required=False),
    Rule("rounds", lambda v: _is_count(v) and v >= 1, "an integer >= 1"),
)
MODE_RULES = (
    Rule("mode", _text, "a perf mode's name (1thread, threads, contended)"),
    Rule("threads", lambda v: _is_count(v) and v >= 1, "an integer >= 1 (torch's thread count in the case)"),
    Rule("contention", lambda v: isinstance(v, bool), "true or false (busy processes ran beside the case)"),
)
"""A case's mode (``harness.perf_modes``): absent from files older than modes, all three or none of them."""
LOAD_RULES = (
    Rule("cpu_count", lambda v: _is_count(v) and v >= 1, "an integer >= 1"),
    Rule("load_average_start", _optional(_load_triple), "3 finite numbers >= 0 (1, 5, 15 min) or null"),
    Rule("load_average_end", _optional(_load_triple), "3 finite numbers >= 0 (1, 5, 15 min) or null"),
    Rule("others_cpu_share", _optional(_non_negative), "a finite number >= 0 or null"),
    Rule("wall_s", _non_negative, "a finite number >= 0 (seconds)"),
)
ENVIRONMENT_STRINGS = (
    "host",
    "torch",
    "torch_git",
    "torch_cuda",
    "python",
    "platform",
    "cpu_model",
    "gpu_name",
    "git_revision",
)
ENVIRONMENT_RULES = (
    *(
        Rule(name, _optional(lambda v: isinstance(v, str)), "a string or null", required=False)
        for name in ENVIRONMENT_STRINGS
    ),
    Rule("cpu_count", _optional(lambda v: _is_count(v) and v >= 1), "an integer >= 1 or null", required=False),
    Rule("torch_threads", _optional(lambda v: _is_count(v) and v >= 1), "an integer >= 1 or null", required=False),
    Rule("load_average", _optional(_load_triple), "3 finite numbers >= 0 (1, 5, 15 min) or null", required=False),
    Rule("load", _optional(lambda v: isinstance(v, dict)), "an object (the machine's load) or null", required=False),
    Rule("merged_from", lambda v: isinstance(v, list), "a list of environments", required=False),
)
DOCUMENT_RULES = (
    Rule("created", lambda v: isinstance(v, str), "a string (ISO 8601 time)"),
    Rule("environment", lambda v: isinstance(v, dict), "an object"),
    Rule("backends", lambda v: isinstance(v, list) and all(isinstance(b, dict) for b in v), "a list of objects"),
    Rule("cases", lambda v: isinstance(v, list), "a list of cases"),
)


def shown(value: object) -> str:
    """``value`` as its JSON text (``Infinity``, ``"fast"``, ``null``), cut to a readable length."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."


def _check(record: Mapping[str, Any], rules: tuple[Rule, ...], where: str, path: str) -> None:
    for rule in rules:
        if rule.name not in record:
            if rule.required:
                raise ResultsError(f"{path}: {where}{rule.name} is missing, expected {rule.expected}")
            continue
        value = record[rule.name]
        if not rule.check(value):
            raise ResultsError(f"{path}: {where}{rule.name} is {shown(value)}, expected {rule.expected}")


def _check_kind(document: Mapping[str, Any], path: str, expected_kind: str) -> None:
    kind = document.get("kind")
    if kind == expected_kind:
        return
    if kind == CONFORMANCE and expected_kind == PERF:
        raise ResultsError(
            f'{path}: is a conformance results file (kind "conformance"), expected a perf results file '
            f'(kind "perf", the perf.json that prunebench run --suite=perf writes)'
        )
    raise ResultsError(f'{path}: kind is {shown(kind)}, expected "{expected_kind}"')


def _check_environment(environment: Mapping[str, Any], where: str, path: str) -> None:
    _check(environment, ENVIRONMENT_RULES, where, path)
    if isinstance(environment.get("load"), dict):
        _check(environment["load"], LOAD_RULES, f"{where}load.", path)
    for index, machine in enumerate(environment.get("merged_from", [])):
        if not isinstance(machine, dict):
            raise ResultsError(f"{path}: {where}merged_from[{index}] is {shown(machine)}, expected an object")
        _check_environment(machine, f"{where}merged_from[{index}].", path)


def case_label(index: int, case: Mapping[str, Any]) -> str:
    """``cases[3] (step[1024x1024] on reference/cpu)``: where a case is, and which one, as far as known."""
    parts = [str(case.get(key)) for key in ("id", "backend", "device") if isinstance(case.get(key), str)]
    if len(parts) == 3:
        return f"cases[{index}] ({parts[0]} on {parts[1]}/{parts[2]})"
    return f"cases[{index}] ({parts[0]})" if parts else f"cases[{index}]"


def _check_case(case: object, index: int, path: str) -> tuple[str, str, str]:
    if not isinstance(case, dict):
        raise ResultsError(f"{path}: cases[{index}] is {shown(case)}, expected an object")
    label = case_label(index, case)
    _check(case, CASE_RULES, f"{label}: ", path)
    _check(case["stats"], STAT_RULES, f"{label}: stats.", path)
    stats = case["stats"]
    if stats["min"] > stats["median"]:
        raise ResultsError(
            f"{path}: {label}: stats.min {shown(stats['min'])} is above stats.median "
            f"{shown(stats['median'])}, expected min <= median"
        )
    if "max" in stats and stats["max"] < stats["median"]:
        raise ResultsError(
            f"{path}: {label}: stats.max {shown(stats['max'])} is below stats.median "
            f"{shown(stats['median'])}, expected max >= median (the worst round)"
        )
    if any(rule.name in case["params"] for rule in MODE_RULES):
        _check(case["params"], MODE_RULES, f"{label}: params.", path)
    return (case["id"], case["backend"], case["device"])


def validate_document(document: object, path: str, expected_kind: str = PERF) -> None:
    """Raise ``ResultsError`` at the first field of ``document`` that breaks the schema of ``expected_kind``.

    Checked in the order a reader needs: is it ours, is it the kind expected (a conformance file handed
    to ``compare`` says so, rather than comparing nothing), then every field's type and range, then that
    no case (id, backend, device) appears twice, since a later duplicate would silently hide the first.
    """
    if not isinstance(document, dict):
        raise ResultsError(f"{path}: the top level is {shown(document)}, expected a JSON object")
    if document.get("kind") in (PERF, CONFORMANCE):  # first: the other kind is named as such, whatever its schema
        _check_kind(document, path, expected_kind)
    if document.get("schema") != SCHEMA:
        raise ResultsError(
            f'{path}: schema is {shown(document.get("schema"))}, expected "{SCHEMA}" (a prunebench results file)'
        )
    if document.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: schema_version {shown(document.get('schema_version'))} is not supported "
            f"(expected {SCHEMA_VERSION})"
        )
    _check_kind(document, path, expected_kind)
    _check(document, DOCUMENT_RULES, "", path)
    _check_environment(document["environment"], "environment.", path)
    for index, backend in enumerate(document["backends"]):
        if "name" not in backend or not _text(backend["name"]):
            raise ResultsError(f"{path}: backends[{index}].name is {shown(backend.get('name'))}, expected a string")
    seen: dict[tuple[str, str, str], int] = {}
    for index, case in enumerate(document["cases"]):
        key = _check_case(case, index, path)
        if key in seen:
            raise ResultsError(
                f"{path}: {case_label(index, case)} repeats cases[{seen[key]}]: "
                f"expected each (id, backend, device) once"
            )
        seen[key] = index
