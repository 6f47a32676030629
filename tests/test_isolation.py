"""The parts behind issue #21's verdicts, each on its own: what a test leaves behind, whose it is, torch's watched
attributes, lane assignment, the order tests run in, reproduction commands and exit statuses."""

from __future__ import annotations

import dataclasses
import importlib
import json
import threading
import time
import warnings

import pytest
import torch
from prunebench.harness import leaks
from prunebench.harness.backend import resolve_backend
from prunebench.harness.cell import TestCell
from prunebench.harness.conformance_results import ConformanceRecord, ConformanceRun
from prunebench.harness.escaping import encodable, encodable_data
from prunebench.harness.exit_status import conformance_verdict
from prunebench.harness.failure import MESSAGE_CHARS, Failure, failure_message, message_is_capped
from prunebench.harness.global_state import TorchGlobalState
from prunebench.harness.guards import LeftRunningError, NotAttributableError, TestGuard
from prunebench.harness.lane_merge import LaneReport
from prunebench.harness.lane_scheduler import assign_lanes
from prunebench.harness.report import write_report
from prunebench.harness.run_status import COMPLETE, CUT_SHORT, RunStatus
from prunebench.harness.scoreboard import Scoreboard
from prunebench.harness.torch_attributes import TorchAttributes, import_watched_modules

from .conftest import SUITES, run_suites


def _cell(backend: str, seed: int | None = None) -> TestCell:
    seed = torch.initial_seed() if seed is None else seed
    return TestCell(backend, "cpu", "float32", "step", "test_step.py::test_x[cpu-float32]", seed, "/x::test_x")


def _sleeping_thread(seconds: float, daemon: bool) -> threading.Thread:
    thread = threading.Thread(target=time.sleep, args=(seconds,), name="left", daemon=daemon)
    thread.start()
    return thread


def test_a_state_change_while_another_backends_thread_runs_is_not_attributable():
    other = _sleeping_thread(5, daemon=True)
    leaks.clean_up(leaks.Leaks((other,), ()), leaks.Origin("other", "test_y"))
    guard = TestGuard(_cell("innocent"))
    torch.set_num_threads(torch.get_num_threads() + 1)  # what the other thread could have done
    verdict = guard.finish(None)
    assert isinstance(verdict, NotAttributableError), verdict
    assert "not attributable" in str(verdict) and "backend 'other'" in str(verdict), verdict
    assert TorchGlobalState.capture().num_threads == guard.state.num_threads, "the change was not undone"


def test_a_non_daemon_thread_left_running_fails_the_test_and_a_daemon_one_is_remembered():
    guard = TestGuard(_cell("leaky"))
    _sleeping_thread(5, daemon=False).join(0)
    verdict = guard.finish(None)
    assert isinstance(verdict, LeftRunningError) and "non-daemon" in str(verdict), verdict
    guard = TestGuard(_cell("leaky"))
    daemon = _sleeping_thread(5, daemon=True)
    assert guard.finish(None) is None
    assert leaks.Origin("leaky", "test_step.py::test_x[cpu-float32]") in leaks.suspects("innocent"), daemon


def test_reseeding_between_setup_and_call_is_caught():
    guard = TestGuard(_cell("backend", seed=torch.initial_seed() + 1))  # the seed fixture's seed is gone
    verdict = guard.finish(None)
    assert verdict is not None and "between the test's setup and its call" in str(verdict), verdict


def test_a_patch_of_torch_is_found_and_undone_but_torchs_own_wrapper_is_not_a_patch():
    import_watched_modules()  # as a prunebench session does first: only imported modules are watched
    before = TorchAttributes.capture()
    original = torch.ao.pruning.BaseSparsifier.state_dict
    torch.ao.pruning.BaseSparsifier.state_dict = lambda self: {}
    try:
        changes = TorchAttributes.capture().changes_since(before)
        assert changes == ["torch.ao.pruning.sparsifier.base_sparsifier.BaseSparsifier.state_dict replaced"], changes
    finally:
        before.restore()
    assert torch.ao.pruning.BaseSparsifier.state_dict is original
    importlib.import_module("torch._dynamo")  # wraps torch.manual_seed on import: torch's own doing
    assert TorchAttributes.capture().changes_since(before) == []


def test_an_error_warnings_filter_is_a_change_and_an_ignore_filter_is_not():
    before = TorchGlobalState.capture()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        assert TorchGlobalState.capture().changes_since(before) == []
        warnings.simplefilter("error")
        (change,) = TorchGlobalState.capture().changes_since(before)
        assert change.startswith("warnings filters: error for Warning added"), change
        before.restore()
        assert TorchGlobalState.capture().changes_since(before) == []


def test_lanes_go_to_workers_by_a_fixed_rule():
    lanes = {"a": list(range(10)), "b": list(range(30)), "c": list(range(5))}
    workers = ["gw0", "gw1"]
    assert assign_lanes(lanes, workers) == {"gw0": ["b"], "gw1": ["a", "c"]}
    assert assign_lanes(lanes, workers) == assign_lanes(dict(reversed(list(lanes.items()))), workers)
    assert assign_lanes(lanes, ["gw0"]) == {"gw0": ["b", "a", "c"]}


def test_plain_pytest_with_workers_runs_each_backend_in_one_worker(pytester, tmp_path):
    results = tmp_path / "run.json"
    step = str(SUITES / "test_step.py")
    result = run_suites(pytester, step, "--backend=reference,torch", "-n", "2", f"--results-json={results}")
    assert result.ret == 0, result.stdout.str()
    by_backend: dict[str, set[int]] = {}
    for record in json.loads(results.read_text())["records"]:
        by_backend.setdefault(record["cell"]["backend"], set()).add(record["process"])
    assert sorted(by_backend) == ["reference", "torch"] and all(len(p) == 1 for p in by_backend.values()), by_backend
    assert by_backend["reference"] != by_backend["torch"], "two backends shared a worker with a worker to spare"


def test_a_replay_runs_its_tests_in_its_order_repeats_included(pytester, tmp_path):
    step = SUITES / "test_step.py"
    ids = [f"{step}::test_disabled_mask_update_freezes_masks[reference-cpu-float32]"]
    ids += [f"{step}::test_step_applies_update_mask[reference-cpu-float32]"] * 2
    replay = tmp_path / "replay.txt"
    replay.write_text("# a comment\n" + "\n".join(ids) + "\n")
    result = run_suites(pytester, str(step), f"--prunebench-replay={replay}", "-vv", "-p", "no:xdist")
    assert result.ret == 0, result.stdout.str()
    ran = [line.split(" ")[0].rsplit("::", 1)[1] for line in result.stdout.lines if " PASSED" in line]
    expected = [test.rsplit("::", 1)[1] for test in ids]
    expected[2] = expected[2].replace("[", "@again[")  # a test listed again runs as its second-pass twin
    assert ran == expected, ran
    replay.write_text(f"{step}::test_no_such_test[reference-cpu-float32]\n")
    missing = run_suites(pytester, str(step), f"--prunebench-replay={replay}", "-p", "no:xdist")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR and "were not collected" in missing.stderr.str()


def test_a_rerun_command_names_the_device_and_the_dtype():
    failure = Failure(
        "/s/test_x.py::test_y[b-cpu-float16]", "b", 1, "m", ("--backend=b",), device="cpu", dtype="float16"
    )
    assert failure.command().split()[4:7] == ["--backend=b", "--device=cpu", "--dtype=float16"]


def test_messages_are_encodable_and_capped():
    lone = "file \udcff"
    assert encodable(lone) == "file \\udcff" and encodable("plain") == "plain"
    assert encodable_data({"a": [lone, (lone,)]}) == {"a": ["file \\udcff", ("file \\udcff",)]}
    huge = "E   AssertionError: " + "x" * (10 * MESSAGE_CHARS)
    assert message_is_capped(huge) and len(failure_message(huge)) < MESSAGE_CHARS + 200
    assert not message_is_capped("E   AssertionError: short")


def test_a_version_that_is_no_str_is_named_by_its_type(tmp_path, monkeypatch):
    package = tmp_path / "versioned"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from prunebench.reference_impl import *\nfrom . import version\nname = 7\n", encoding="utf-8"
    )
    (package / "version.py").write_text("V = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = resolve_backend("versioned")
    assert (backend.name, backend.version) == ("versioned", "<module, not a str>"), backend
    assert backend.notes == ("its 'name' is a int, not a str", "its 'version' is a module, not a str")


def _run(*outcomes: str, failures: int = 0) -> ConformanceRun:
    records = [ConformanceRecord(_cell("b", 1), outcome, None, 0.1) for outcome in outcomes]
    failure = Failure("/x::test_x", "b", 1, "m")
    return ConformanceRun({}, [], Scoreboard(), records, [failure] * failures)


def _lane(exit_status: int | None, run: ConformanceRun | None, ended: str | None = None) -> LaneReport:
    return LaneReport("b", None, exit_status, RunStatus(COMPLETE, 1, 1), run, ended)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("run", "status", "lane", "expected", "said"),
    [
        (_run("passed"), RunStatus(COMPLETE, 1, 1), (0, True), 0, None),
        (_run("failed", failures=1), RunStatus(COMPLETE, 1, 1), (0, True), 1, "although pytest exited 0"),
        (_run("passed"), RunStatus(CUT_SHORT, 1, 2), (0, True), 3, "cut short"),
        (_run(), RunStatus(COMPLETE, 0, 0), (4, False), 4, None),
        (_run("passed"), RunStatus(COMPLETE, 1, 1, lingering=["thread 'x'"]), (0, True), 1, "left running"),
        (_run("passed"), RunStatus(COMPLETE, 1, 1), (3, True), 1, "exited with an error"),
        (_run(), RunStatus(COMPLETE, 0, 0), (5, True), 5, None),
        (_run(), RunStatus(COMPLETE, 0, 0), (0, True), 0, None),
    ],
    ids=["green", "exit_0_with_failures", "cut_short", "usage", "lingering", "odd_exit", "no_tests", "collect_only"],
)
def test_the_exit_status_follows_the_recorded_outcomes(run, status, lane, expected, said):
    exit_status, wrote = lane
    verdict = conformance_verdict(run, status, [_lane(exit_status, run if wrote else None)])
    assert verdict.status == expected, verdict
    assert (said is None and verdict.why is None) or (said is not None and said in (verdict.why or "")), verdict


def test_a_lane_ended_after_its_last_test_is_not_green():
    run = _run("passed")
    lane = dataclasses.replace(_lane(0, run), ended="ended by prunebench")
    assert conformance_verdict(run, RunStatus(COMPLETE, 1, 1), [lane]).status == 1


def test_a_report_with_a_message_utf8_cannot_encode_is_written(tmp_path):
    failure = Failure("/x::test_x", "b", 1, "cannot open masks-\udcff.pt")  # as a backend raised it, unescaped
    run = ConformanceRun({}, [{"name": "b\udcff", "version": "1", "source": "b"}], Scoreboard(), [], [failure])
    write_report(tmp_path, run)
    assert "masks-\\udcff.pt" in (tmp_path / "failures.md").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "conformance.json").read_text())["failures"][0]["message"].endswith("\udcff.pt")
