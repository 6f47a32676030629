"""Expected failures as data: files of test-id prefixes, each with the reason it is expected to fail.

Format, one entry a line (blank lines and ``#`` comments ignored)::

    test_weight_norm.py::test_odd_shapes[  | upstream bug: https://github.com/pytorch/pytorch/issues/134220
    test_weight_norm.py::test_forward[*-float16  | ``*`` stands for any run of characters
    include torch                              | every entry of a built-in backend's own file
    include ../other.xfails                    | or of another file, relative to this one

Entries are written *without* the backend's name: they match test ids with it removed
(``<module file>::<test name>[<device>-<dtype>-<case>]``), so one file serves every backend built on
the same code, and a user's file can include a library's file instead of copying it. An entry
matching no collected test is reported as stale.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .xfails_snapshot import read_declared


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


INCLUDE = "include "


def parse_xfails(
    text: str, source: str, base: Path | None = None, seen: frozenset[Path] = frozenset()
) -> list[ExpectedFailure]:
    """Parse an expected-failures file's text; a line without ``|`` and a reason is a usage error.

    ``include NAME`` lines pull in a built-in backend's file or a path relative to ``base``.
    """
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(INCLUDE):
            entries += _included(line.removeprefix(INCLUDE).strip(), f"{source}:{number}", base, seen)
            continue
        prefix, bar, reason = (part.strip() for part in line.partition("|"))
        if not bar or not prefix or not reason:
            raise UsageError(f"{source}:{number}: expected 'TEST_ID_PREFIX | reason', got {raw!r}")
        entry = ExpectedFailure(_without_directories(prefix), reason, f"{source}:{number}")
        _reject_overbroad(entry)
        entries.append(entry)
    return entries


SINGLE_MODULE = re.compile(r"[\w.-]+\.py::[A-Za-z_]")
"""An entry starts with one literal module file and the start of a test name: it can match no other module."""


def _reject_overbroad(entry: ExpectedFailure) -> None:
    """An entry that could match several modules, or every test, would hide any failure: a usage error."""
    if not SINGLE_MODULE.match(entry.prefix):
        raise UsageError(
            f"{entry.source}: expected-failure entry {entry.prefix!r} could match tests of several modules or every "
            "test; write 'module_file.py::test_name[...' (one module, the start of a test name)"
        )


def _without_directories(prefix: str) -> str:
    """``suites/test_step.py::x`` as ``test_step.py::x``: ids are matched by module file name, and an id
    copied from pytest's output (which names the directory) must not silently match nothing."""
    path, separator, rest = prefix.partition("::")
    return path.replace("\\", "/").rsplit("/", 1)[-1] + separator + rest


def load_xfails(path: Path, seen: frozenset[Path] = frozenset()) -> list[ExpectedFailure]:
    path = Path(path)
    if path.resolve() in seen:
        raise UsageError(f"expected-failures file {str(path)!r} includes itself (through {len(seen)} include(s))")
    try:
        text = read_declared(path)
    except OSError as error:
        raise UsageError(f"cannot read expected-failures file {str(path)!r}: {error}") from error
    return parse_xfails(text, _display_path(path), path.parent, seen | {path.resolve()})


def builtin_xfails_file(name: str) -> Path | None:
    """The expected-failures file a built-in backend ships (``torch`` -> ``harness/backends/torch_ao.xfails``)."""
    import importlib

    from .backend import BUILTIN_BACKENDS

    if name not in BUILTIN_BACKENDS:
        return None
    namespace = importlib.import_module(BUILTIN_BACKENDS[name])
    path = getattr(namespace, "xfails", None)
    return Path(path) if path else None


def _included(target: str, where: str, base: Path | None, seen: frozenset[Path]) -> list[ExpectedFailure]:
    """The entries of ``include TARGET``: a built-in backend's name, else a path relative to the includer."""
    from .backend import BUILTIN_BACKENDS

    if target in BUILTIN_BACKENDS:
        path = builtin_xfails_file(target)
        if path is None:
            raise UsageError(f"{where}: built-in backend {target!r} ships no expected-failures file to include")
    else:
        path = (base or Path.cwd()) / target
        if not path.is_file():
            raise UsageError(
                f"{where}: 'include {target}' names neither a built-in backend ({', '.join(BUILTIN_BACKENDS)}) "
                f"nor a file ({path} does not exist)"
            )
    return load_xfails(path, seen)


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


def _for_any_class(entry: ExpectedFailure) -> bool:
    """An entry of the generic checks written for any class (``test_pruner[*-...``): a bug in the lifecycle
    methods a subclass inherits. One naming a class (``test_pruner[FPGMPruner-...``) is that class's own
    rule's bug, which a class that merely shares its base does not inherit."""
    return "[*" in entry.prefix


@functools.cache
def library_xfails(library: str) -> tuple[ExpectedFailure, ...]:
    """A built-in library's own expected failures, read once per process."""
    path = builtin_xfails_file(library)
    return tuple(load_xfails(path)) if path else ()


def inherited_failure(subject: Any, relies_on: tuple[str, ...], test_id: str, backend: str | None = None) -> str | None:
    """The expected failure a subject inherits for ``test_id``, as an xfail reason, or None.

    A class that inherits every method a check judges (``relies_on``) unchanged from a library (torch,
    torchao) inherits that library's declared bug in them: the library's entry for the check applies.
    Not when the subject is that library's own class under its own backend (``backend``): its own
    entries apply there already. ``prunebench check``, ``parametrize_with_checks`` and the ``contract``
    suite all ask here, so one class gets one verdict whichever way it is checked.
    """
    library = subject.inherited_from(relies_on)
    if library is None or library == backend:
        return None
    entry = match_xfail(test_id, [entry for entry in library_xfails(library) if _for_any_class(entry)])
    if entry is None:
        return None
    return f"inherited from {library} ({', '.join(relies_on)} not overridden): {entry.reason} [{entry.source}]"
