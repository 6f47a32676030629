"""The second pass: every conformance test run once more, after all of them, in reverse order, in the same process.

A backend that keeps state between tests (masks cached by ``id(module)``, a code path that changes after
some number of calls, a counter in a module global) passes or fails depending on what ran before it in
its process. Which tests share a process is fixed by the command (``harness.lanes``), so the verdict is
the same every run; the second pass makes such a backend *visible* even when every test passes in the
run's own order: each test now runs after every other, in a new order, and a test that passed the first
time and fails the second is the backend's state showing. ``harness.recorder`` judges the pair; nothing
else counts the second runs.

The suites that prune whole models (the zoo, ``structured_prune``, ``structured_pruned_model``) are left
out: they take most of a run's time, and a backend's state shows in the masks the other suites check.
Tests already expected to fail or skipped are left out too (their second run could say nothing new).
"""

from __future__ import annotations

import dataclasses

import pytest

from .cell import AGAIN, CELL_KEY, CELL_PROPERTY

SKIPPED_SUITES = frozenset({"zoo", "structured_prune", "structured_pruned_model"})
STATE_REASON = (
    "passed in the run's order, failed when run again later in the same process (second pass, reverse "
    "order): the backend keeps state between tests"
)


def _repeatable(item: pytest.Item) -> bool:
    cell = item.stash.get(CELL_KEY, None)
    if cell is None or cell.second_pass or cell.suite in SKIPPED_SUITES or cell.suite.startswith("self-test"):
        return False
    return (
        isinstance(item, pytest.Function)
        and not any(item.iter_markers("skip"))
        and not item.get_closest_marker("xfail")
    )


def again(item: pytest.Function) -> pytest.Function:
    """A second item running ``item``'s test with its parameters: ``test_x@again[params]``."""
    callspec = getattr(item, "callspec", None)
    originalname = f"{item.originalname}{AGAIN}"
    name = f"{originalname}[{callspec.id}]" if callspec is not None and callspec.id else originalname
    clone = pytest.Function.from_parent(
        item.parent,
        name=name,
        callspec=callspec,
        callobj=item.obj,
        keywords=item.keywords,
        fixtureinfo=item._fixtureinfo,
        originalname=originalname,
    )
    clone.own_markers = list(item.own_markers)
    cell = dataclasses.replace(item.stash[CELL_KEY], second_pass=True)
    clone.stash[CELL_KEY] = cell
    clone.user_properties = [(CELL_PROPERTY, cell.to_property())]
    return clone


def with_second_pass(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items``, then a second run of each repeatable one, in reverse order."""
    return items + [again(item) for item in reversed(items) if _repeatable(item)]
