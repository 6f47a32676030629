"""Which tests run, in which order, in which process (loaded by ``harness.entry``; acts only in runs that
use prunebench, ``harness.activation``): hooks only.

The mechanisms live in ``harness.second_pass`` (each test once more, reverse order, same process),
``harness.replay`` (a process's tests run again in its order) and ``harness.lane_scheduler`` (xdist
workers that never split a backend). Every test records the process it ran in, so a failure's report
can name the tests that ran before it there (``harness.recorder``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from .activation import is_active
from .cell import CELL_KEY, CELL_PROPERTY, PROCESS_PROPERTY, TestCell
from .errors import UsageError
from .replay import REPLAY_OPTION, read_replay, replayed_items
from .second_pass import with_second_pass
from .watchdog import wants_lane_scheduling


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prunebench", "prunebench conformance harness")
    group.addoption(
        "--prunebench-second-pass",
        dest="prunebench_second_pass",
        action="store_true",
        help="after every test ran, run each again in reverse order in the same process (the zoo excepted): "
        "a test that then fails depends on earlier tests (the backend keeps state). prunebench run and check "
        "set it.",
    )
    group.addoption(
        REPLAY_OPTION,
        dest="prunebench_replay",
        default=None,
        metavar="FILE",
        help="run exactly the tests FILE lists (one id a line, repeats allowed), in its order, in one process: "
        "the replay a failure's report gives when it does not fail alone.",
    )


@pytest.hookimpl(trylast=True)  # after the plugin gave each item its cell and expected failure
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not is_active(config):
        return
    replay = config.option.prunebench_replay
    if replay:
        try:
            chosen = replayed_items(items, read_replay(replay))
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        kept = {id(item) for item in chosen}
        deselected = [item for item in items if id(item) not in kept]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = chosen
    elif config.option.prunebench_second_pass:
        items[:] = with_second_pass(items)


_FAILED_HERE: set[tuple[str, str]] = set()
"""(backend, test) of the tests that failed in this process: their second run is skipped (it would say nothing)."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not is_active(item.config):
        return
    if not any(name == PROCESS_PROPERTY for name, _ in item.user_properties):
        item.user_properties.append((PROCESS_PROPERTY, os.getpid()))
    cell = item.stash.get(CELL_KEY, None)
    if cell is not None and cell.second_pass and (cell.backend, cell.test) in _FAILED_HERE:
        pytest.skip("second pass: its first run failed already")


def pytest_sessionstart(session: pytest.Session) -> None:
    _FAILED_HERE.clear()  # a session pytester runs inside a test starts afresh


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and report.when != "???":
        cell = dict(report.user_properties).get(CELL_PROPERTY)
        if cell is not None:
            recorded = TestCell.from_property(str(cell))
            _FAILED_HERE.add((recorded.backend, recorded.test))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Workers that each run whole backends, in collection order (``harness.lane_scheduler``)."""
    if not (is_active(config) and wants_lane_scheduling(config)):
        return None
    from .lane_scheduler import LaneScheduling  # xdist's schedulers: imported only in runs that use them

    return LaneScheduling(config, log)
