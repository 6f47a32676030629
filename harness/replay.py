"""Replays: the tests one process ran, in its order, run again in one process (``--prunebench-replay=FILE``).

A failure that does not reproduce alone depends on the tests that ran before it in its process: the
backend keeps state between tests. The report then gives a replay file (those tests, then the failing
one, one id a line, repeats allowed: the second pass runs a test twice) and a command that runs it.
Ids are reproduction ids (the module's absolute path, then the test), so the file works from any directory.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from .cell import CELL_KEY
from .errors import UsageError
from .second_pass import again

REPLAY_OPTION = "--prunebench-replay"
COMMENT = "#"


def reproduction_id(item: pytest.Item) -> str:
    cell = item.stash.get(CELL_KEY, None)
    return cell.reproduction_id if cell is not None else f"{item.path}::{item.nodeid.partition('::')[2]}"


def read_replay(path: str | Path) -> list[str]:
    """The ids a replay file lists, in order; an unreadable or empty file is a usage error."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UsageError(f"{REPLAY_OPTION} {str(path)!r}: cannot read it ({error.strerror})") from None
    ids = [line.strip() for line in lines if line.strip() and not line.startswith(COMMENT)]
    if not ids:
        raise UsageError(f"{REPLAY_OPTION} {str(path)!r}: lists no test")
    return ids


def write_replay(path: Path, ids: Sequence[str], why: str) -> Path:
    from .atomic import write_text_atomic

    return write_text_atomic(path, f"{COMMENT} {why}\n" + "".join(f"{test}\n" for test in ids))


def replayed_items(items: list[pytest.Item], ids: list[str]) -> list[pytest.Item]:
    """The collected items in the replay's order; every id must be collected. A test listed again runs again as
    its second-pass twin (``harness.second_pass``): pytest cannot run one item twice in a row."""
    by_id = {reproduction_id(item): item for item in items}
    missing = [test for test in dict.fromkeys(ids) if test not in by_id]
    if missing:
        raise UsageError(
            f"{REPLAY_OPTION}: {len(missing)} listed test(s) were not collected, e.g. {missing[0]!r}: run the "
            "replay's command as the report gives it (same backend, device, dtype and module files)"
        )
    seen: set[str] = set()
    chosen = []
    for test in ids:
        chosen.append(again(by_id[test]) if test in seen else by_id[test])
        seen.add(test)
    return chosen


def replay_command(replay_file: Path, ids: Sequence[str], backend_options: Sequence[str], matrix: Sequence[str]) -> str:
    """The command that runs a replay file: its module files, the backend, in the pytest process."""
    modules = list(dict.fromkeys(test.partition("::")[0] for test in ids))
    words = ["python", "-m", "pytest", *modules, f"{REPLAY_OPTION}={replay_file}", *backend_options, *matrix]
    return shlex.join([*words, "-p", "no:xdist"])
