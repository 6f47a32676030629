"""Expected failures as data: files of test-id prefixes, each with the reason it is expected to fail.

Format, one entry a line (blank lines and ``#`` comments ignored)::

    test_weight_norm.py::test_odd_shapes[torch-  | upstream bug: https://github.com/pytorch/pytorch/issues/134220
    test_weight_norm.py::test_forward[torch-*-float16  | ``*`` stands for any run of characters

Test ids are ``<module file>::<test name>[<params>]``, the params starting with the backend name, so
an entry can target one backend, device, dtype or case. An entry matching no collected test is
reported as stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError


@dataclass
class ExpectedFailure:
    prefix: str
    reason: str
    source: str
    matched: int = field(default=0, compare=False)

    def matches(self, short_id: str) -> bool:
        """Prefix match, where ``*`` in the prefix stands for any run of characters (``[`` is literal)."""
        pattern = ".*".join(re.escape(part) for part in self.prefix.split("*"))
        return re.match(pattern, short_id) is not None


def parse_xfails(text: str, source: str) -> list[ExpectedFailure]:
    """Parse an expected-failures file's text; a line without ``|`` and a reason is a usage error."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        prefix, bar, reason = (part.strip() for part in line.partition("|"))
        if not bar or not prefix or not reason:
            raise UsageError(f"{source}:{number}: expected 'TEST_ID_PREFIX | reason', got {raw!r}")
        entries.append(ExpectedFailure(_without_directories(prefix), reason, f"{source}:{number}"))
    return entries


def _without_directories(prefix: str) -> str:
    """``suites/test_step.py::x`` as ``test_step.py::x``: ids are matched by module file name, and an id
    copied from pytest's output (which names the directory) must not silently match nothing."""
    path, separator, rest = prefix.partition("::")
    return path.replace("\\", "/").rsplit("/", 1)[-1] + separator + rest


def load_xfails(path: Path) -> list[ExpectedFailure]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read expected-failures file {str(path)!r}: {error}") from error
    return parse_xfails(text, _display_path(Path(path)))


def _display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies under it: reports are published and
    compared across machines, where an absolute checkout path is noise."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def match_xfail(short_id: str, entries: list[ExpectedFailure]) -> ExpectedFailure | None:
    """The first entry whose prefix starts ``short_id``; counts the match for the stale check."""
    for entry in entries:
        if entry.matches(short_id):
            entry.matched += 1
            return entry
    return None
