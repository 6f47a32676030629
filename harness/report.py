"""The conformance report a run leaves in its report directory: the run's JSON, scoreboard and failures.

For every failure the report gives what a user needs to reproduce it alone: the backend, the test id
(which names the model / chain and configuration case), the seed it ran with, the whole failure
message, and a command to paste. Every string a backend controls is escaped (``harness.escaping``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tabulate import tabulate

from .atomic import write_text_atomic
from .conformance_results import ConformanceRun, write_conformance
from .escaping import markdown_code, markdown_fence, markdown_inline
from .failure import Failure
from .outcome import OUTCOMES
from .scoreboard import Scoreboard

RESULTS_FILE = "conformance.json"
MESSAGES_DIR = "messages"
"""Where the whole text of each capped failure message goes, once."""
ORDER_DIR = "order"
"""Where each process that had a failure lists the tests it ran, in order (what replays draw on)."""


def provenance_lines(backends: list[dict[str, Any]], environment: dict[str, object]) -> list[str]:
    """Who was tested where: each backend's version and source, torch, Python, CPU and GPU."""
    lines = [
        f"- backend {markdown_code(b['name'])} {markdown_inline(b['version'])} (from {markdown_code(b['source'])}"
        + ("; masks read through its own `mask_access`" if b.get("own_mask_access") else "")
        + "".join(f"; {markdown_inline(note)}" for note in b.get("notes", []))
        + ")"
        for b in backends
    ]
    keys = ("torch", "python", "cpu_model", "cpu_count", "gpu_name", "git_revision")
    lines += [f"- {key}: {markdown_inline(environment[key])}" for key in keys if environment.get(key) is not None]
    return [*lines, ""] if lines else []


def scoreboard_markdown(
    scoreboard: Scoreboard, backends: list[dict[str, str]] | None = None, environment: dict[str, object] | None = None
) -> str:
    headers = ["backend", "suite", *OUTCOMES]
    lines = ["# Conformance scoreboard", "", *provenance_lines(backends or [], environment or {})]
    rows = [[markdown_inline(cell) if isinstance(cell, str) else cell for cell in row] for row in scoreboard.rows()]
    lines += [tabulate(rows, headers=headers, tablefmt="pipe", disable_numparse=True), ""]
    lines += [f"**Warning:** {warning}" for warning in scoreboard.warnings()] + ([""] if scoreboard.warnings() else [])
    for (backend, outcome), reasons in sorted(scoreboard.reasons.items()):
        lines.append(f"## {markdown_inline(backend)}: {outcome}")
        lines += [f"- {markdown_inline(reason)}" for reason in sorted(reasons)] + [""]
    return "\n".join(lines)


def _failure_lines(failure: Failure) -> list[str]:
    when = (
        ", in the second pass (it passed in the run's order: the backend keeps state between tests)"
        if failure.second_pass
        else ""
    )
    lines = [
        f"## {markdown_code(failure.test)}",
        "",
        f"backend {markdown_code(failure.backend)}, seed {failure.seed} (from the test id){when}",
        "",
        markdown_fence(failure.message),
        "",
    ]
    if failure.message_file:
        lines += [f"The whole message: {markdown_code(failure.message_file)}", ""]
    lines += ["Rerun it alone:", "", markdown_fence(failure.command(), "bash"), ""]
    if failure.reproduction:
        lines += [f"**Reproduction:** {markdown_inline(failure.reproduction)}", ""]
    if failure.replay_command:
        lines += [markdown_fence(failure.replay_command, "bash"), ""]
    return lines


def failures_markdown(failures: list[Failure]) -> str:
    if not failures:
        return "# Failures\n\nNone.\n"
    return "\n".join(["# Failures", "", *(line for failure in failures for line in _failure_lines(failure))])


def _with_side_files(target: Path, run: ConformanceRun) -> ConformanceRun:
    """Each capped message's whole text once in ``messages/``, and each failing process's order in ``order/``."""
    failures = list(run.failures)
    for index, text in run.full_messages.items():
        relative = f"{MESSAGES_DIR}/failure-{index + 1}.txt"
        write_text_atomic(target / relative, text)
        failures[index] = dataclasses.replace(failures[index], message_file=relative)
    processes = {failure.process for failure in failures if failure.process in run.order}
    for process in processes:
        write_text_atomic(target / ORDER_DIR / f"{process}.txt", "".join(f"{test}\n" for test in run.order[process]))
    failures = [
        dataclasses.replace(failure, order_file=f"{ORDER_DIR}/{failure.process}.txt")
        if failure.process in processes
        else failure
        for failure in failures
    ]
    return dataclasses.replace(run, failures=failures, full_messages={}, order={})


def stale_markdown(stale: list[str]) -> list[str]:
    """The expected-failure entries that named no existing test: each one hides nothing, or hides a typo."""
    if not stale:
        return []
    return ["## Stale expected failures", "", *(f"- {markdown_inline(entry)}" for entry in stale), ""]


def write_report(directory: str | Path, run: ConformanceRun) -> list[Path]:
    """The run's JSON document, scoreboard and failures; an incomplete run says so at the top of each."""
    target = Path(directory)
    run = _with_side_files(target, run)
    notice = f"**Incomplete: {run.incomplete}. These counts are not a passing run.**\n\n" if run.incomplete else ""
    notice += "".join(f"**Note:** {markdown_inline(note)}\n\n" for note in run.notes)
    scoreboard = scoreboard_markdown(run.scoreboard, run.backends, run.environment)
    stale = "\n".join(stale_markdown(run.stale_expected_failures))
    return [
        write_conformance(run, target / RESULTS_FILE),
        write_text_atomic(target / "scoreboard.md", notice + scoreboard + ("\n" + stale if stale else "")),
        write_text_atomic(target / "failures.md", notice + failures_markdown(run.failures)),
    ]
