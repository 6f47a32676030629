"""xdist scheduling that never splits a backend: each backend's tests run in one worker, in collection order.

xdist's default (``load``) hands tests to whichever worker is free, so which tests share a process, and in
which order, changes with the machine's timing and with ``-n``: a backend that keeps state between tests
(a cache keyed by ``id(module)``, a code path that turns after N calls) then passes one run and fails the
next. Here each backend's tests form a *lane*, given whole to one worker before any other work, in
collection order; lanes go to workers by a fixed rule (largest lane first, to the least loaded worker,
workers in id order), so the same command runs the same tests in the same order in the same worker.
Tests of no backend (the harness's self-tests) are shared out as ``load`` does, after a worker's lanes.

A worker that crashes hands its remaining lane, in order, to its replacement. With fewer workers than
backends, a worker runs several lanes one after the other; only ``prunebench run`` gives every backend
a process of its own (``harness.lanes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from xdist.scheduler import LoadScheduling

from .cell import backend_in_nodeid

RECORDER_PLUGIN = "prunebench-recorder"


def _backend_names(config: pytest.Config) -> list[str]:
    recorder = config.pluginmanager.get_plugin(RECORDER_PLUGIN)
    return [backend.name for backend in recorder.backends] if recorder is not None else []


def assign_lanes(lanes: dict[str, list[int]], workers: Sequence[str]) -> dict[str, list[str]]:
    """Worker id -> the backends whose lanes it runs: the largest lane first, to the worker with the fewest
    tests so far (ties: the first worker). Depends only on the lanes and the worker ids."""
    load = {worker: 0 for worker in workers}
    assigned: dict[str, list[str]] = {worker: [] for worker in workers}
    for backend in sorted(lanes, key=lambda name: (-len(lanes[name]), name)):
        worker = min(workers, key=lambda w: (load[w], workers.index(w)))
        assigned[worker].append(backend)
        load[worker] += len(lanes[backend])
    return assigned


class LaneScheduling(LoadScheduling):
    """``load`` scheduling for tests of no backend; every backend's tests pinned to one worker, in order."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.lane_items: set[int] = set()
        self.orphans: list[int] = []
        """Lane tests of a crashed worker, in order, for the worker that replaces it."""

    @property
    def has_pending(self) -> bool:
        return bool(self.orphans) or super().has_pending

    @property
    def tests_finished(self) -> bool:
        return not self.orphans and super().tests_finished

    def schedule(self) -> None:
        if self.collection is not None:  # a worker was added (a crashed one replaced)
            self._adopt_orphans()
            super().schedule()
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        names = _backend_names(self.config)
        lanes: dict[str, list[int]] = {}
        free: list[int] = []
        for index, nodeid in enumerate(self.collection):
            backend = backend_in_nodeid(nodeid, names)
            (lanes.setdefault(backend, []) if backend is not None else free).append(index)
        nodes = sorted(self.nodes, key=lambda node: _worker_number(node.gateway.id))
        assigned = assign_lanes(lanes, [node.gateway.id for node in nodes])
        for node in nodes:
            indices = sorted(index for backend in assigned[node.gateway.id] for index in lanes[backend])
            self.lane_items.update(indices)
            if indices:
                self.node2pending[node].extend(indices)
                node.send_runtest_some(indices)
        self.pending[:] = free
        if self.maxschedchunk is None:
            self.maxschedchunk = len(self.collection)
        for node in nodes:
            self.check_schedule(node)

    def remove_node(self, node: Any) -> str | None:
        pending = self.node2pending.pop(node)
        if not pending:
            return None
        assert self.collection is not None
        crashed, rest = pending[0], pending[1:]
        self.orphans.extend(index for index in rest if index in self.lane_items)
        self.pending.extend(index for index in rest if index not in self.lane_items)
        for other in self.node2pending:
            self.check_schedule(other)
        return self.collection[crashed]

    def _adopt_orphans(self) -> None:
        """The replacement of a crashed worker (a worker with nothing pending) takes its lane, in order."""
        idle = [node for node, pending in self.node2pending.items() if not pending and not node.shutting_down]
        if self.orphans and idle:
            orphans, self.orphans = self.orphans, []
            self.node2pending[idle[0]].extend(orphans)
            idle[0].send_runtest_some(orphans)


def _worker_number(gateway_id: str) -> tuple[int, str]:
    """``gw10`` after ``gw9``: workers in the order xdist numbered them."""
    digits = gateway_id.lstrip("gw")
    return (int(digits), gateway_id) if digits.isdigit() else (1 << 30, gateway_id)
