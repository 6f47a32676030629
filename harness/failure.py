"""One failed test as the report shows it: the message, the seed, a command that reruns it alone, and what
running it alone showed."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from .escaping import encodable

MESSAGE_LINES = 60
"""The most lines of one failure's message a report keeps."""
MESSAGE_CHARS = 20_000
"""The most characters of one failure's message a report keeps (a backend's message may be megabytes; the
report directory keeps the whole text once, in a side file)."""
REASON_CHARS = 1_000
"""The most characters of one reason (a skip's, an expected failure's, a crash's) a report keeps."""
TIMEOUT_MARK = "Timeout (>"
"""How pytest-timeout's signal method words the failure it raises inside a test that ran too long
(pytest-timeout has no exception type of its own: ``pytest.fail`` is all it raises)."""
TAIL_LINES = 6
"""The lines kept of a failure that has no ``E`` lines (a crash report): its end says what happened."""


def rerun_command(
    test: str,
    backend_options: Sequence[str],
    device: str | None = None,
    dtype: str | None = None,
    extra_options: Sequence[str] = (),
) -> str:
    """A shell command that reruns exactly ``test`` alone, in the pytest process; every word quoted for the shell.

    The device and dtype are part of the test's id, and a run collects only the ones it is given: without
    them a float16 test is ``not found``.
    """
    matrix = [f"--device={device}"] if device else []
    matrix += [f"--dtype={dtype}"] if dtype else []
    words = ["python", "-m", "pytest", test, *backend_options, *matrix, "-p", "no:xdist", *extra_options]
    return shlex.join(words)


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
    device: str | None = None
    dtype: str | None = None
    message_file: str | None = None
    """The whole message, when the report kept only its start (a path relative to the report directory)."""
    second_pass: bool = False
    """The test passed in the run's order and failed when run again later in the same process."""
    process: int | None = None
    """The process the test ran in, and its place among the tests that process ran (``harness.ordering``)."""
    position: int | None = None
    order_file: str | None = None
    """The tests that process ran, in order (a path relative to the report directory)."""
    reproduction: str | None = None
    """What running it again showed (``harness.reproduction``): alone, or after the tests before it."""
    replay_command: str | None = None
    """A command that reruns the tests its process ran before it, then it, when it fails only that way."""

    def command(self) -> str:
        """A shell command that reruns exactly this test; every word is quoted for the shell."""
        options = self.backend_options or (f"--backend={self.backend}",)
        return rerun_command(self.test, options, self.device, self.dtype, self.extra_options)


def capped(text: str, limit: int, where: str = "the report keeps the whole text in a side file") -> str:
    """``text`` up to ``limit`` characters, then how many were left out and where they are."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... ({len(text) - limit} more characters left out: {where})"


def _message_lines(longrepr_text: str) -> list[str]:
    """The error lines of a failure (its ``E   ...`` lines), else its last lines when it has none."""
    lines = encodable(longrepr_text).splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return errors or [line for line in lines if line.strip()][-TAIL_LINES:]


def message_is_capped(longrepr_text: str) -> bool:
    """Whether ``failure_message`` keeps only the start of this failure's message."""
    chosen = _message_lines(longrepr_text)
    return len(chosen) > MESSAGE_LINES or len("\n".join(chosen)) > MESSAGE_CHARS


def failure_message(longrepr_text: str) -> str:
    """The whole error of a failure (its ``E   ...`` lines), else its last lines when it has none.

    Multi-line messages are kept whole (a hint on the third line is as much the product as the
    first), up to ``MESSAGE_LINES`` and ``MESSAGE_CHARS``, after which the report says how much was left
    out. Characters UTF-8 cannot encode are written as escapes.
    """
    chosen = _message_lines(longrepr_text)
    if len(chosen) > MESSAGE_LINES:
        left_out = len(chosen) - MESSAGE_LINES
        chosen = [*chosen[:MESSAGE_LINES], f"... ({left_out} more lines: the report keeps the whole text)"]
    return capped("\n".join(chosen), MESSAGE_CHARS)
