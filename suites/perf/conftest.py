"""Options and the ``measure`` fixture of the performance suites.

Run them serially (pytest-benchmark disables itself under xdist, and a case whose timing was switched
off that way fails: a perf run that measured nothing is not a pass; ``--benchmark-disable`` is the
explicit way to run the cases once, untimed)::

    pytest suites/perf --backend=reference,torch -p no:xdist --perf-sizes=1024,4096 --benchmark-json=raw.json

Every case runs in each mode of ``harness.perf_modes``: at 1 thread and at torch's default thread count
(``--perf-threads``, both unless told), and with ``--perf-contention`` also at the default thread count with
one busy process per core beside it (started before the case's first round, stopped after its last). In its
mode, a case runs its operation untimed, once, or up to three times while the runs are short (first-call costs
out; the shortest run's length sets the case's rounds: ``--perf-rounds`` at least, more until
``--perf-min-time`` seconds of timed work, see ``harness.timing``), times it with ``benchmark.pedantic`` on a fresh
setup per round, then measures the operation's peak memory in one extra, untimed run (see ``harness.memory``)
and records it, the memory method and the case's identity (its mode included) in ``extra_info``. Cases are
ordered so that backends alternate case by case, which spreads any drift of the machine over all of them
alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest
import torch
from prunebench.harness.benchmark_import import COMPLETE_KEY
from prunebench.harness.environment import MACHINE_INFO_KEY, CpuSample, MachineLoad
from prunebench.harness.guards import TIMEOUT_IS_DEFAULT
from prunebench.harness.memory import memory_method, peak_memory_bytes
from prunebench.harness.perf_modes import PerfMode, modes_for, running
from prunebench.harness.timing import (
    MAX_ROUNDS,
    check_round_settings,
    rounds_for,
    shortest_round_seconds,
    synchronize,
)

DEFAULT_SIZES = "1024"
DEFAULT_ROUNDS = 5
DEFAULT_MIN_TIME = 0.25
DEFAULT_THREADS = "1,default"
RUN_START = pytest.StashKey[CpuSample]()
PERF_TEST_TIMEOUT_S = 1800
"""A perf case's time limit unless the user chose one: hang detection only. A case runs its operation at
least ``--perf-rounds`` + 2 times, and some take a minute each (Torch-Pruning's 256-layer ``prune()`` with a
busy process per core): the harness's 300 s default cut such a case short, a verdict on the machine's load."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prunebench performance")
    group.addoption("--perf-sizes", default=DEFAULT_SIZES, help="Linear weight sides, comma-separated (default 1024)")
    group.addoption(
        "--perf-rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"fewest timed rounds per case (default {DEFAULT_ROUNDS})",
    )
    group.addoption(
        "--perf-min-time",
        type=float,
        default=DEFAULT_MIN_TIME,
        help=f"seconds of timed work a case gets at least, in more rounds (at most {MAX_ROUNDS}) when its rounds are "
        f"short (default {DEFAULT_MIN_TIME}; 0: exactly --perf-rounds)",
    )
    group.addoption(
        "--perf-dtypes",
        default="",
        help="extra weight dtypes for the WeightNorm step and its read floor, comma-separated, e.g. float16,bfloat16 "
        "(float32 is always measured, under the case ids without a dtype)",
    )
    group.addoption(
        "--perf-threads",
        default=DEFAULT_THREADS,
        help=f"torch thread counts to measure every case at: 1, default (torch's) or both (default {DEFAULT_THREADS})",
    )
    group.addoption(
        "--perf-contention",
        action="store_true",
        help="also measure every case at the default thread count with one CPU-bound process per core beside it "
        "(started and stopped by the suite around each case)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """The load sample before the first case (historic hook: also called when this conftest loads late)."""
    try:
        check_round_settings(
            config.getoption("--perf-rounds"), config.getoption("--perf-min-time"), ("--perf-rounds", "--perf-min-time")
        )
        perf_modes(config)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[RUN_START] = CpuSample.now()


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """pytest-benchmark asks for machine_info as it saves, after the last case: the second load sample."""
    start = config.stash.get(RUN_START, None)
    if start is not None:
        machine_info[MACHINE_INFO_KEY] = asdict(MachineLoad.between(start, CpuSample.now()))


def perf_sizes(config: pytest.Config) -> list[int]:
    raw = config.getoption("--perf-sizes")
    try:
        sizes = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise pytest.UsageError(f"--perf-sizes {raw!r}: expected comma-separated ints such as 1024,4096") from None
    if not sizes or min(sizes) < 4:
        raise pytest.UsageError(f"--perf-sizes {raw!r}: every size must be an int >= 4")
    return sizes


def perf_dtypes(config: pytest.Config) -> list[str]:
    """The extra dtypes of ``--perf-dtypes``: names of floating-point torch dtypes other than float32."""
    raw = config.getoption("--perf-dtypes")
    names = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [name for name in names if not isinstance(getattr(torch, name, None), torch.dtype)]
    if bad or any(not getattr(torch, name).is_floating_point or name == "float32" for name in names):
        raise pytest.UsageError(
            f"--perf-dtypes {raw!r}: expected floating-point dtypes other than float32, e.g. float16"
        )
    return names


def perf_modes(config: pytest.Config) -> list[PerfMode]:
    return modes_for(config.getoption("--perf-threads"), config.getoption("--perf-contention"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "size" in metafunc.fixturenames:
        metafunc.parametrize("size", perf_sizes(metafunc.config), ids=lambda size: f"{size}x{size}")
    if "extra_dtype" in metafunc.fixturenames:
        metafunc.parametrize("extra_dtype", perf_dtypes(metafunc.config))


@pytest.hookimpl(specname="pytest_generate_tests", trylast=True)
def pytest_generate_tests_of_modes(metafunc: pytest.Metafunc) -> None:
    """Every measured case in each mode; last, so the mode ends the id (``step[4096x4096-wn_1x4-step-1thread]``)."""
    if "perf_mode" in metafunc.fixturenames:
        metafunc.parametrize("perf_mode", perf_modes(metafunc.config), ids=lambda mode: mode.name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Alternate backends case by case: sort on (test, params without the backend, backend). Cases of extra
    dtypes are deselected, not skipped, when ``--perf-dtypes`` names none."""
    if not config.getoption("--perf-dtypes", ""):
        dtyped = [item for item in items if "extra_dtype" in getattr(item, "fixturenames", ())]
        if dtyped:
            config.hook.pytest_deselected(items=dtyped)
            items[:] = [item for item in items if item not in dtyped]

    def interleaved(item: pytest.Item) -> tuple[str, str, str]:
        params = getattr(getattr(item, "callspec", None), "params", {})
        backend = getattr(params.get("backend"), "name", "")
        rest = item.name.replace(f"[{backend}-", "[", 1) if backend else item.name
        return (item.path.name, rest, backend)

    if all("perf" in item.path.parts for item in items):
        items.sort(key=interleaved)
    if config.stash.get(TIMEOUT_IS_DEFAULT, False):
        for item in items:
            if "perf" in item.path.parts and item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(PERF_TEST_TIMEOUT_S))


def _peak_of_one_run(setup: Callable[[], tuple[Any, ...]], target: Callable[..., Any], device: str) -> int:
    """Peak memory of one untimed run on fresh arguments: ``harness.memory`` counts only what the operation itself
    allocates, so one run gives the same figure in every process."""
    arguments = setup()
    return peak_memory_bytes(lambda: target(*arguments), device)


@pytest.fixture
def measure(benchmark, request: pytest.FixtureRequest, backend, device, perf_mode: PerfMode) -> Callable[..., None]:
    """``measure(operation, setup, target, **params)``: time ``target(*setup())`` in ``perf_mode`` and record it."""
    min_rounds = request.config.getoption("--perf-rounds")
    min_time = request.config.getoption("--perf-min-time")
    asked_to_skip_timing = request.config.getoption("benchmark_disable") and not request.config.getoption(
        "benchmark_enable"
    )
    if benchmark.disabled and not asked_to_skip_timing:
        pytest.fail(
            "pytest-benchmark switched its timing off (it does under xdist: workers or a PYTEST_XDIST_WORKER "
            "variable), so this case would measure nothing; run the perf suites serially with -p no:xdist",
            pytrace=False,
        )

    def run(operation: str, setup: Callable[[], tuple[Any, ...]], target: Callable[..., Any], **params: Any) -> None:
        def timed(*arguments: Any) -> None:
            target(*arguments)
            synchronize(device)

        identity = {"backend": backend.name, "device": device, "operation": operation, COMPLETE_KEY: False}
        benchmark.extra_info.update(identity)  # a round cut short (a timeout) leaves the record marked incomplete
        with running(perf_mode) as mode:
            # untimed rounds on fresh arguments: first-call costs out, and the length of a round known (the
            # shortest of a few while they are short, so that one stalled run does not cut a case's rounds)
            round_s = shortest_round_seconds(setup, timed, budget_s=min_time)
            rounds = rounds_for(round_s, min_rounds, min_time)
            benchmark.pedantic(timed, setup=lambda: (setup(), {}), rounds=rounds, iterations=1, warmup_rounds=0)
        peak = _peak_of_one_run(setup, target, device)
        benchmark.extra_info.update(
            {  # the identity (backend, device, operation) is already there, written before the first round
                "backend_version": backend.version,
                "params": {**params, **mode.params()},
                "peak_memory_bytes": peak,
                "memory_method": memory_method(device),
                "load_processes": mode.load_processes,
                COMPLETE_KEY: True,
            }
        )

    return run
