"""The conformance report a run leaves in its report directory: scoreboard (JSON, Markdown) and failures.

For every failure the report gives what a user needs to reproduce it alone: the backend, the test id
(which names the model / chain and configuration case), the seed it ran with, the first lines of the
failure message, and a command to paste.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from tabulate import tabulate

from .atomic import write_text_atomic
from .escaping import markdown_code, markdown_fence, markdown_inline
from .scoreboard import OUTCOMES, Scoreboard

MESSAGE_LINES = 60
"""The most lines of one failure's message a report keeps."""
TAIL_LINES = 6
"""The lines kept of a failure that has no ``E`` lines (a crash report): its end says what happened."""


@dataclass(frozen=True)
class Failure:
    nodeid: str
    backend: str
    seed: int | None
    message: str
    backend_options: tuple[str, ...] = ()
    """The options that load this backend again (``--backend=NAME``, or ``--check=MODULE:CLASS`` ...)."""

    extra_options: tuple[str, ...] = ()
    """Options the run had that change the outcome, e.g. ``--xfails=FILE`` (without it an XPASS would pass)."""

    def command(self) -> str:
        """A shell command that reruns exactly this test; every word is quoted for the shell."""
        options = self.backend_options or (f"--backend={self.backend}",)
        words = ["python", "-m", "pytest", self.nodeid, *options, "-p", "no:xdist", *self.extra_options]
        return shlex.join(words)


def failure_message(longrepr_text: str) -> str:
    """The whole error of a failure (its ``E   ...`` lines), else its last lines when it has none.

    Multi-line messages are kept whole (a hint on the third line is as much the product as the
    first), up to ``MESSAGE_LINES``, after which the report says how many lines were left out.
    """
    lines = longrepr_text.splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    chosen = errors or [line for line in lines if line.strip()][-TAIL_LINES:]
    if len(chosen) > MESSAGE_LINES:
        left_out = len(chosen) - MESSAGE_LINES
        chosen = [*chosen[:MESSAGE_LINES], f"... ({left_out} more lines: rerun the command to see them)"]
    return "\n".join(chosen)


def provenance_lines(backends: list[dict[str, str]], environment: dict[str, object]) -> list[str]:
    """Who was tested where: each backend's version and source, torch, Python, CPU and GPU."""
    lines = [
        f"- backend {markdown_code(b['name'])} {markdown_inline(b['version'])} (from {markdown_code(b['source'])}"
        + ("; masks read through its own `mask_access`)" if b.get("own_mask_access") else ")")
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


def failures_markdown(failures: list[Failure]) -> str:
    if not failures:
        return "# Failures\n\nNone.\n"
    lines = ["# Failures", ""]
    for failure in failures:
        lines += [
            f"## {markdown_code(failure.nodeid)}",
            "",
            f"backend {markdown_code(failure.backend)}, seed {failure.seed} "
            "(from the test id: the command reproduces it)",
            "",
            markdown_fence(failure.message),
            "",
            markdown_fence(failure.command(), "bash"),
            "",
        ]
    return "\n".join(lines)


def write_report(
    directory: str | Path,
    scoreboard: Scoreboard,
    failures: list[Failure],
    backends: list[dict[str, str]] | None = None,
    environment: dict[str, object] | None = None,
    incomplete: str | None = None,
) -> list[Path]:
    """Scoreboard (JSON, Markdown) and failures; ``incomplete`` says why the run is not a whole one."""
    target = Path(directory)
    notice = f"**Incomplete: {incomplete}. These counts are not a passing run.**\n\n" if incomplete else ""
    document = {
        "incomplete": incomplete,
        "backends": backends or [],
        "environment": environment or {},
        **scoreboard.as_dict(),
        "failures": [asdict(f) | {"command": f.command()} for f in failures],
    }
    return [
        write_text_atomic(target / "scoreboard.json", json.dumps(document, indent=2) + "\n"),
        write_text_atomic(target / "scoreboard.md", notice + scoreboard_markdown(scoreboard, backends, environment)),
        write_text_atomic(target / "failures.md", notice + failures_markdown(failures)),
    ]
