"""The expected failures a run started with, kept for the whole run: its lanes and its reruns read the same ones.

A conformance run reads expected-failures files in several processes at several times: each lane when it
starts (lanes may queue behind others for minutes), each failure's rerun alone, each replay. A user who
declares a failure while the run is still going (the run is long; the failure was just seen) would change
what the later readers see: a test that failed in the run would be *xfailed* when rerun alone, and the report
would call a plain bug "does not fail alone" or blame earlier tests. So ``prunebench run`` and ``check`` point
every process of the run at one snapshot directory (``SNAPSHOT_ENV``): the first process to read a file keeps
a copy there, and every later read of that file in the run reads the copy. The printed rerun commands do not
carry the snapshot: a user rerunning a failure later sees the files as they are then.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .atomic import write_bytes_atomic

SNAPSHOT_ENV = "PRUNEBENCH_XFAILS_SNAPSHOT"
"""Directory of the run's snapshot; unset outside ``prunebench run`` / ``check`` (files are read as they are)."""
SNAPSHOT_DIR = "xfails-snapshot"
"""The snapshot's folder in a report directory."""


@contextlib.contextmanager
def snapshot(report: Path) -> Iterator[Path]:
    """A fresh, empty snapshot for the run writing ``report``: this process and the children it starts read
    through it until the block ends (the variable is then as it was: a later run in this process, a test
    calling the command's ``main`` twice, starts its own)."""
    directory = report / SNAPSHOT_DIR
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    before = os.environ.get(SNAPSHOT_ENV)
    os.environ[SNAPSHOT_ENV] = str(directory.resolve())
    try:
        yield directory
    finally:
        if before is None:
            os.environ.pop(SNAPSHOT_ENV, None)
        else:
            os.environ[SNAPSHOT_ENV] = before


def _copy_of(path: Path, directory: Path) -> Path:
    """Where the snapshot keeps ``path``: named by its resolved location (two files may share a name)."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return directory / f"{digest}-{path.name}"


def read_declared(path: Path) -> str:
    """``path``'s text as this run first read it (its current text outside a run).

    Raises ``OSError`` when the file cannot be read, as ``Path.read_text`` does.
    """
    where = os.environ.get(SNAPSHOT_ENV)
    if not where:
        return path.read_text(encoding="utf-8")
    copy = _copy_of(path, Path(where))
    try:
        return copy.read_bytes().decode("utf-8")
    except FileNotFoundError:
        pass
    data = path.read_bytes()
    staged = write_bytes_atomic(copy.with_name(f".{copy.name}.{os.getpid()}"), data)
    try:
        os.link(staged, copy)  # the first reader's copy wins; a later one reads it
    except FileExistsError:
        data = copy.read_bytes()
    finally:
        staged.unlink(missing_ok=True)
    return data.decode("utf-8")
