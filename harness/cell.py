"""The test cell: one record of what a conformance test is, built once at collection and read everywhere.

A cell names the backend, device, dtype, suite and test of one collected item, the seed its random
inputs come from and the id that reruns it. Expected failures, the scoreboard, failure reports and
results all read this record rather than re-parsing node ids. Under xdist it travels to the
controller as one ``user_properties`` entry (JSON); a worker that died leaves a report without it,
which :func:`cell_of_report` rebuilds from the node id alone (the only place ids are parsed).

The seed is derived from the test and its own parameters, never from the backend or the device: every
backend, on every device, sees the same inputs, so two backends' outcomes are like for like and an
input-dependent failure cannot follow a backend's name.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from .names import KNOWN_DEVICES, SELF_TEST_MARKER

CELL_PROPERTY = "prunebench_cell"
PROCESS_PROPERTY = "prunebench_process"
"""The id of the process a test ran in (its pid), in the test's ``user_properties`` (``harness.scheduling``)."""
CELL_KEY = pytest.StashKey["TestCell"]()
"""Where each collected conformance item keeps its cell (set once by the plugin at collection)."""
AGAIN = "@again"
"""Appended to a test function's name for its run in the second pass (``harness.ordering``)."""


@dataclass(frozen=True)
class TestCell:
    """One conformance test of one backend on one device and dtype."""

    __test__ = False  # a record, not a pytest test class

    backend: str
    device: str | None
    dtype: str | None
    suite: str
    """The module's name without ``test_`` (``weight_norm``), or ``self-test: x`` for a harness self-test."""
    test: str
    """The id without the backend: ``test_step.py::test_x[cpu-float32-case]``; what expected failures match."""
    seed: int
    reproduction_id: str
    """The file's absolute path, then the test: an id pytest accepts from any directory."""
    second_pass: bool = False
    """The test's second run in the same process, after the others (``--prunebench-second-pass``)."""

    def to_property(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_property(cls, value: str) -> TestCell:
        return cls(**json.loads(value))

    @property
    def function(self) -> str:
        """``test_step.py::test_x``: the test function, without parameters."""
        return self.test.split("[", 1)[0]


def suite_of(module_file: str) -> str:
    """``test_weight_norm.py`` (or a path to it) -> ``weight_norm``."""
    return Path(module_file).name.removesuffix(".py").removeprefix("test_")


def _without_segment(params: str, segment: str) -> str:
    """``a-cpu-b`` without its first whole ``-``-separated ``segment`` (``cpu``): ``a-b``."""
    parts = params.split("-")
    if segment in parts:
        parts.remove(segment)
    return "-".join(parts)


def _ids(test: str, backend_id: str, device: str | None) -> tuple[str, str]:
    """The backend-free id of ``test`` (``file::name[params]``) and the key its seed derives from.

    The plugin parametrizes the backend first (its id, or ``backend-Subject`` for a generic check) and
    the device second, so both sit at the front of the parameters.
    """
    head, bracket, params = test.partition("[")
    params = params.removesuffix("]")
    if bracket and (params == backend_id or params.startswith(f"{backend_id}-")):
        params = params[len(backend_id) + 1 :]
    free = f"{head}[{params}]" if params else head
    seed_params = _without_segment(params, device) if device else params
    return free, f"{head}[{seed_params}]" if seed_params else head


def seed_of(key: str) -> int:
    """A stable seed from a backend- and device-free test id: rerunning the id reproduces its inputs."""
    return zlib.crc32(key.encode())


def backend_free_id(test: str, backend: str, device: str | None = None) -> str:
    """``test_x.py::test_y[torch-cpu-float32]`` -> ``test_x.py::test_y[cpu-float32]`` (the xfails' form)."""
    return _ids(test, backend, device)[0]


def cell_of_item(item: pytest.Item, backend: str) -> TestCell:
    """The cell of a collected item of ``backend`` (its parameters' ids start with the backend's name,
    except under ``prunebench check``, where the one class under test names the cells)."""
    params = item.callspec.params
    device = params.get("device") if isinstance(params.get("device"), str) else None
    dtype = params.get("dtype")
    test = f"{item.path.name}::{item.nodeid.partition('::')[2]}"
    free, seed_key = _ids(test, backend, device)
    suite = suite_of(item.path.name)
    return TestCell(
        backend=backend,
        device=device,
        dtype=str(dtype).removeprefix("torch.") if dtype is not None else None,
        suite=f"self-test: {suite}" if item.get_closest_marker(SELF_TEST_MARKER) else suite,
        test=free,
        seed=seed_of(seed_key),
        reproduction_id=f"{item.path}::{item.nodeid.partition('::')[2]}",
    )


def backend_in_nodeid(nodeid: str, backends: Iterable[str]) -> str | None:
    """The backend whose name starts a node id's parameters (the plugin parametrizes it first), or None.

    For the few places that have only an id: xdist's report of a crashed worker, and xdist's scheduler,
    which sees the workers' collections as ids.
    """
    params = nodeid.partition("::")[2].partition("[")[2]
    names = sorted(backends, key=len, reverse=True)  # 'torch-x' before 'torch'
    return next((name for name in names if params.startswith((f"{name}-", f"{name}]"))), None)


def cell_of_report(report: pytest.TestReport, backends: Iterable[str]) -> TestCell | None:
    """The report's cell: its property, or for a report that lost it (a crashed worker's), from the node id.

    None for a report of a test that is no conformance test (no backend in its id).
    """
    value = dict(report.user_properties).get(CELL_PROPERTY)
    if value is not None:
        return TestCell.from_property(str(value))
    if report.when != "???" or "[" not in report.nodeid:  # only xdist's report of a crashed worker lacks it
        return None
    backend = backend_in_nodeid(report.nodeid, backends)
    if backend is None:
        return None
    path, _, rest = report.nodeid.partition("::")
    function, _, params = rest.partition("[")
    again = function.endswith(AGAIN)
    rest = f"{function.removesuffix(AGAIN)}[{params}"
    after_backend = params[len(backend) + 1 :].split("-", 1)[0].rstrip("]")
    device = after_backend if after_backend in KNOWN_DEVICES else None
    test = f"{Path(path).name}::{rest}"
    free, seed_key = _ids(test, backend, device)
    return TestCell(backend, device, None, suite_of(path), free, seed_of(seed_key), f"{path}::{rest}", again)
