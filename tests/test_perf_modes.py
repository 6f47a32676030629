"""The perf suite's modes: 1 thread, default threads, and a CPU-bound load beside the measurement.

The load (``harness.cpu_load``) is one spinning process per core. It must never outlive what started it: it
stops at the end of its block, on an exception, when the run is interrupted (SIGINT, SIGTERM), and when its
parent is killed outright (the children notice); each child also has a deadline of its own. Modes restore
torch's thread count however the block ends. A real perf run records each case's mode in its results file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from prunebench.harness.cpu_load import CpuLoad, is_running
from prunebench.harness.perf_modes import CONTENDED, DEFAULT_THREADS, MODES, ONE_THREAD, modes_for, running
from prunebench.harness.results import load_results

from .broken._leaky_cpu_load import LeakyCpuLoad
from .conftest import environment_outside_xdist

ROOT = Path(__file__).parent.parent
GONE_WITHIN_S = 10.0
"""How long a busy process may take to exit after its parent is gone (it looks every few milliseconds)."""


def _wait_until_gone(pids: list[int], within: float = GONE_WITHIN_S) -> list[int]:
    """The ``pids`` still running after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(is_running(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if is_running(pid)]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _spins_and_stops(load: CpuLoad) -> None:
    """The check: inside the block every busy process burns CPU; after it none is left."""
    with load:
        pids = load.pids
        assert len(pids) == load.processes
        time.sleep(0.5)
        busy = [_cpu_seconds(pid) for pid in pids]
    assert all(seconds > 0.1 for seconds in busy), f"the busy processes barely ran: {busy} CPU seconds"
    assert not [pid for pid in pids if is_running(pid)], "the block ended but busy processes run on"


def test_the_load_spins_one_process_per_core_and_stops_with_its_block():
    load = CpuLoad()
    assert load.processes == (os.cpu_count() or 1)
    _spins_and_stops(load)


def test_the_check_catches_a_load_that_leaves_its_processes():
    leaky = LeakyCpuLoad(2)
    try:
        with pytest.raises(AssertionError, match="busy processes run on"):
            _spins_and_stops(leaky)
    finally:
        leaky.really_stop()


def test_the_load_stops_when_its_block_raises():
    with pytest.raises(KeyboardInterrupt), CpuLoad(2) as load:
        pids = load.pids
        raise KeyboardInterrupt
    assert not [pid for pid in pids if is_running(pid)]


def test_a_busy_process_ends_at_its_own_deadline():
    load = CpuLoad(1, limit_s=1.0).start()
    try:
        assert not _wait_until_gone(load.pids, within=20.0), "a busy process outlived its deadline"
    finally:
        load.stop()


@pytest.mark.parametrize(("processes", "limit"), [(0, 1.0), (-1, 1.0), (1, 0.0)])
def test_a_load_of_nothing_or_for_no_time_is_refused(processes, limit):
    with pytest.raises(ValueError, match="expected"):
        CpuLoad(processes, limit_s=limit)


DRIVER = textwrap.dedent(
    """
    import signal, sys, time
    from prunebench.harness.cpu_load import CpuLoad
    # Ctrl-C raises KeyboardInterrupt here even when this test was started with SIGINT ignored (a background
    # job of a non-interactive shell), as it is in a user's terminal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with CpuLoad(2) as load:
        print(" ".join(map(str, load.pids)), flush=True)
        time.sleep(120)
    """
)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_the_load_is_gone_when_its_process_is_interrupted_or_killed(how):
    """SIGINT ends the block (KeyboardInterrupt); SIGTERM and SIGKILL end the process without it: the children
    see their parent change and exit on their own."""
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        pids = [int(pid) for pid in driver.stdout.readline().split()]
        assert len(pids) == 2 and all(is_running(pid) for pid in pids), pids
        driver.send_signal(how)
        driver.wait(timeout=60)
        assert not _wait_until_gone(pids), f"busy processes left running after {how.name}"
    finally:
        driver.kill()
        driver.wait()


def test_modes_restore_torch_threads_however_the_block_ends():
    before = torch.get_num_threads()
    with running(ONE_THREAD) as mode:
        assert torch.get_num_threads() == 1 and mode.threads == 1 and mode.load_processes == 0
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), running(ONE_THREAD):
        raise RuntimeError("a failing case")
    assert torch.get_num_threads() == before
    with running(DEFAULT_THREADS) as mode:
        assert mode.threads == before
    assert mode.params() == {"mode": "threads", "threads": before, "contention": False}


def test_the_contended_mode_runs_the_load_inside_its_block_only():
    with running(CONTENDED) as mode:
        assert mode.load_processes == (os.cpu_count() or 1)
        assert mode.params()["contention"] is True


@pytest.mark.parametrize(
    ("threads", "contention", "expected"),
    [
        ("1,default", False, ["1thread", "threads"]),
        ("default", True, ["threads", "contended"]),
        ("1", True, ["1thread", "contended"]),
        (" default , 1 ,default", False, ["threads", "1thread"]),
    ],
)
def test_modes_for_the_options(threads, contention, expected):
    assert [mode.name for mode in modes_for(threads, contention)] == expected
    assert all(name in MODES for name in expected)


@pytest.mark.parametrize("threads", ["", "2", "one", "1,all"])
def test_bad_thread_choices_name_the_value(threads):
    with pytest.raises(ValueError, match="--perf-threads"):
        modes_for(threads, False)


def _perf_run(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "prunebench.harness.cli", "run", "--backend=reference", "--suite=perf"]
    command += [f"--report={tmp_path}", "--perf-rounds=1", "--perf-min-time=0", *options]
    return subprocess.Popen(command, cwd=ROOT, env=environment_outside_xdist(), text=True, stdout=subprocess.PIPE)


def _busy_children_of(pid: int) -> list[int]:
    """The busy processes (``cpu_load.SPIN``) whose recorded parent is ``pid``, wherever they were reparented."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(arguments) > 3 and b"spinning" in arguments[2] and arguments[3] == str(pid).encode():
            found.append(int(entry.name))
    return found


def test_a_contended_run_records_its_modes_and_leaves_no_load(tmp_path):
    run = _perf_run(tmp_path, "--perf-sizes=16", "--perf-threads=1", "--perf-contention", "-k", "floor and read")
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output[-3000:]
    cases = {case.mode: case for case in load_results(tmp_path / "perf.json").cases}
    assert sorted(cases) == ["1thread", "contended"], sorted(cases)
    assert cases["1thread"].params["threads"] == 1 and cases["1thread"].params["contention"] is False
    assert cases["contended"].params["contention"] is True
    assert cases["contended"].params["threads"] == torch.get_num_threads()
    assert cases["contended"].extra["load_processes"] == os.cpu_count()
    assert cases["contended"].id.endswith("-contended]") and cases["contended"].worst is not None
    assert not _wait_until_gone(_busy_children_of(run.pid)), "busy processes outlived the run"


def test_an_interrupted_contended_run_leaves_no_load(tmp_path):
    """SIGTERM (a CI job's timeout) in the middle of a contended case: the run ends, and so does its load."""
    run = _perf_run(
        tmp_path, "--backend=torch", "--perf-sizes=2048", "--perf-threads=default", "--perf-contention", "-k",
        "sparsifier_operation and wn_unstructured and step and contended",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (pids := [pid for child in _pytest_pids(run.pid) for pid in _busy_children_of(child)]):
            assert run.poll() is None and time.monotonic() < deadline, "the contended case never started its load"
            time.sleep(0.1)
        os.kill(run.pid, signal.SIGTERM)
        run.wait(timeout=120)
        assert not _wait_until_gone(pids), "busy processes outlived the interrupted run"
        assert run.returncode != 0
        status = json.loads((tmp_path / "run.json").read_text()) if (tmp_path / "run.json").exists() else {}
        assert status.get("status", "interrupted") != "complete", status
    finally:
        run.kill()
        run.wait()


def _pytest_pids(parent: int) -> list[int]:
    """``parent`` and its children (``prunebench run`` starts pytest as a child)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    found = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return [parent, *found]
