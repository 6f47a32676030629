"""One failed test as the report shows it: the message, the seed, and a command that reruns it alone."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

MESSAGE_LINES = 60
"""The most lines of one failure's message a report keeps."""
TAIL_LINES = 6
"""The lines kept of a failure that has no ``E`` lines (a crash report): its end says what happened."""


@dataclass(frozen=True)
class Failure:
    test: str
    """The runnable id of the test (its file's absolute path, then the test)."""
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
        words = ["python", "-m", "pytest", self.test, *options, "-p", "no:xdist", *self.extra_options]
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
