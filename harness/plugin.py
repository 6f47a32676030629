"""The pytest plugin: selects backends, parametrizes the device/dtype matrix, keeps the scoreboard.

Registered by the ``pytest11`` entry point (``harness.entry``) in runs that use prunebench; this module
holds hooks only. Tests opt in by requesting
the ``backend``, ``device`` or ``dtype`` fixtures; ``@pytest.mark.requires("Name", ...)`` turns a
missing backend name into an *unsupported* outcome, and expected-failure files mark known bugs as
strict xfails. Each collected test gets its cell (``harness.cell``) once, and everything after reads it.
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from . import leaks, run_status
from .backend import Backend, unchecked_warning
from .cell import CELL_KEY, CELL_PROPERTY, cell_of_item
from .collection import applies_to_check, keep_only_expected_failures, missing_names, subject_params
from .conformance_results import write_conformance
from .errors import NotApplicableError, UnsupportedError
from .escaping import encodable_data
from .failure import rerun_command
from .guards import TestGuard, default_timeout, harness_fault, memory_probe
from .lane_scheduler import RECORDER_PLUGIN
from .mask_access import using_mask_access
from .matrix import DTYPES
from .outcome import OUTCOME_ATTRIBUTE, REASON_ATTRIBUTE
from .recorder import MEMORY_PROPERTY, RunRecorder
from .report import write_report
from .session import PluginState

_STATE = pytest.StashKey[PluginState]()
_CELL = CELL_KEY
_UNSUPPORTED = pytest.StashKey[str]()
_GUARD_NOTES = pytest.StashKey[list[str]]()
_RECORDER = RECORDER_PLUGIN
_HARNESS_OUTCOMES: dict[type[BaseException], str] = {
    UnsupportedError: "unsupported",
    NotApplicableError: "not_applicable",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-timeout reads its settings
def pytest_configure(config: pytest.Config) -> None:
    default_timeout(config)
    state = PluginState(config)
    config.stash[_STATE] = state
    xfails_options = tuple(f"--xfails={path}" for path in config.option.prunebench_xfails or ())
    config.pluginmanager.register(RunRecorder(state.scoreboard, state.backends, xfails_options), _RECORDER)


def _state(config: pytest.Config) -> PluginState:
    return config.stash[_STATE]


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = _state(config)
    lines = [f"prunebench: torch {torch.__version__}, devices {state.devices}, dtypes {state.dtypes}"]
    for backend in state.backends:
        provides = (
            f"one {backend.subject.kind} class under the generic checks"
            if backend.subject is not None
            else f"{len(backend.provided())} of the contract's 9 names"
        )
        lines.append(
            f"prunebench backend {backend.name} {backend.version} ({backend.source}): {provides}"
            + ("; masks read through its own mask_access" if backend.mask_access is not None else "")
        )
        warning = unchecked_warning(backend)
        if warning:
            lines.append(f"prunebench warning: {warning}")
        lines += [f"prunebench note: backend {backend.name}: {note}" for note in backend.notes]
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = _state(metafunc.config)
    subjects = metafunc.definition.get_closest_marker("subjects")
    if subjects is not None:
        metafunc.parametrize(("backend", "subject"), subject_params(subjects.args[0], state.backends))
    elif "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", [pytest.param(backend, id=backend.name) for backend in state.backends])
    if "device" in metafunc.fixturenames:  # every device here is available: parse_devices rejects the others
        metafunc.parametrize("device", [pytest.param(device, id=device) for device in state.devices])
    if "dtype" in metafunc.fixturenames:
        metafunc.parametrize("dtype", [pytest.param(DTYPES[name], id=name) for name in state.dtypes])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    if state.check_subject is not None:
        backend = state.backends[0]
        deselected = [item for item in items if not applies_to_check(item, backend)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if applies_to_check(item, backend)]
    for item in items:
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("backend")
        if not isinstance(backend, Backend):
            continue
        cell = cell_of_item(item, backend.name)
        item.stash[_CELL] = cell
        item.user_properties.append((CELL_PROPERTY, cell.to_property()))
        state.collected_functions.add(cell.function)
        missing = missing_names(item, backend)
        if missing:
            reason = f"backend {backend.name!r} does not provide {', '.join(missing)}"
            item.stash[_UNSUPPORTED] = reason
            item.add_marker(pytest.mark.skip(reason=f"unsupported: {reason}"))
            continue
        reason = state.expected_failure(cell, item.callspec.params)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
    if config.option.prunebench_only_expected_failures:
        keep_only_expected_failures(config, items)
    for entry in state.stale_xfails():
        warnings.warn(
            f"expected failure {entry.prefix!r} ({entry.source}) names a test that does not exist: stale entry?",
            pytest.PytestWarning,
            stacklevel=1,
        )


@pytest.fixture(autouse=True)
def _prunebench_seed(request: pytest.FixtureRequest) -> Iterator[int | None]:
    """Seed torch and random from the cell (its test and parameters, not its backend or device)."""
    cell = request.node.stash.get(_CELL, None)
    if cell is not None:
        torch.manual_seed(cell.seed)
        random.seed(cell.seed)
    yield cell.seed if cell is not None else None


@pytest.fixture(autouse=True)
def _prunebench_mask_access(request: pytest.FixtureRequest) -> Iterator[None]:
    """Read masks where the test's backend keeps them (``harness.mask_access``) for the whole test."""
    backend = getattr(getattr(request.node, "callspec", None), "params", {}).get("backend")
    with using_mask_access(backend.mask_access if isinstance(backend, Backend) else None):
        yield


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[None]:
    """Record peak memory and catch what the test leaves behind (``harness.guards.TestGuard``)."""
    cell = pyfuncitem.stash.get(_CELL, None)
    probe = memory_probe(cell.device, pyfuncitem.config.option.prunebench_record_memory) if cell else None
    guard = TestGuard(cell) if cell is not None else None
    raised: BaseException | None = None
    try:
        with probe or contextlib.nullcontext():
            result = yield
    except (Exception, pytest.fail.Exception) as error:  # not KeyboardInterrupt or pytest.exit: they end the run
        raised = error
    finally:
        if probe is not None and probe.peak_bytes is not None:
            pyfuncitem.user_properties.append((MEMORY_PROPERTY, probe.peak_bytes))
    verdict = guard.finish(raised) if guard is not None else None
    if guard is not None and guard.notes:
        pyfuncitem.stash[_GUARD_NOTES] = guard.notes
    if verdict is not None:
        raise verdict from raised
    if raised is not None:
        raise raised
    return result


def _as_harness_outcome(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo) -> None:
    """Record on the report what the harness knows of its outcome (read by ``harness.outcome``)."""
    excinfo = call.excinfo
    harness_outcome = next((o for e, o in _HARNESS_OUTCOMES.items() if excinfo and excinfo.errisinstance(e)), None)
    if harness_outcome is not None:
        reason = str(excinfo.value)
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1], f"{harness_outcome.replace('_', ' ')}: {reason}")
        if hasattr(report, "wasxfail"):
            del report.wasxfail
        setattr(report, OUTCOME_ATTRIBUTE, harness_outcome)
        setattr(report, REASON_ATTRIBUTE, reason)
    elif report.skipped and _UNSUPPORTED in item.stash:
        setattr(report, OUTCOME_ATTRIBUTE, "unsupported")
        setattr(report, REASON_ATTRIBUTE, item.stash[_UNSUPPORTED])
    elif call.when == "call" and report.failed and excinfo is None and item.get_closest_marker("xfail"):
        setattr(report, OUTCOME_ATTRIBUTE, "xpassed")  # strict: pytest fails the run, the scoreboard says why


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: sees the report after xfail handling
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    fault = harness_fault(call)
    if fault is not None and hasattr(report, "wasxfail"):
        reason = report.wasxfail
        del report.wasxfail
        report.outcome = "failed"
        report.sections.append(
            ("prunebench", f"the test {fault}; its expected-failure entry ({reason}) does not cover that")
        )
    _as_harness_outcome(item, report, call)
    cell = item.stash.get(_CELL, None)
    if report.failed and cell is not None:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("backend")
        options = backend.options if isinstance(backend, Backend) else ()
        extra = item.config.pluginmanager.get_plugin(_RECORDER).extra_options
        command = rerun_command(cell.reproduction_id, options, cell.device, cell.dtype, extra)
        report.sections.append(
            ("prunebench", f"seed {cell.seed} (derived from the test id); rerun it alone:\n{command}")
        )
    for note in item.stash.get(_GUARD_NOTES, []) if call.when == "call" else []:
        report.sections.append(("prunebench", f"also found after this test (and undone): {note}"))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(config: pytest.Config, report: Any) -> Iterator[Any]:
    """Every string of a report xdist sends made UTF-8 encodable: a lone surrogate in a backend's message would
    crash the worker's channel (execnet's DumpError) and lose the failure."""
    data = yield
    return encodable_data(data) if data is not None else data


def pytest_sessionstart(session: pytest.Session) -> None:
    """Mark the report directory as holding a run in progress (the previous run's files go)."""
    directory = session.config.option.prunebench_report_dir
    if directory and not hasattr(session.config, "workerinput"):
        run_status.begin(directory)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that stopped before its last test is never green, whatever stopped it (``pytest.exit(0)``)."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    state = _state(config)
    if config.option.collectonly:  # nothing was meant to run: a complete run of no tests
        state.finished = state.expected = 0
        return
    recorder = config.pluginmanager.get_plugin(_RECORDER)
    # a replay runs a test twice: count tests, not runs (under xdist the controller has ids, not items)
    expected = len({item.nodeid for item in session.items}) if session.items else session.testscollected
    state.finished, state.expected = len(recorder.finished), expected
    if state.finished < state.expected and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.INTERRUPTED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    cut_short = state.expected is not None and state.finished < state.expected
    if cut_short:
        terminalreporter.write_line(
            f"prunebench: the run was cut short after {state.finished} of {state.expected} tests: not a passing run",
            red=True,
        )
    if hasattr(config, "workerinput"):
        return
    stale = [f"{entry.prefix} ({entry.source})" for entry in state.stale_xfails()]
    incomplete = f"cut short after {state.finished} of {state.expected} tests" if cut_short else None
    recorder = config.pluginmanager.get_plugin(_RECORDER)
    run = recorder.run(stale, incomplete)
    if state.scoreboard.counts:
        terminalreporter.section("prunebench scoreboard")
        terminalreporter.write_line(state.scoreboard.render())
    lingering = leaks.lingering(state.running_before, children=os.getpid() in recorder.order)
    if lingering:
        run.notes.append(leaks.lingering_note(lingering))
        terminalreporter.write_line(f"prunebench: {leaks.lingering_note(lingering)}", red=True)
    directory = config.option.prunebench_report_dir
    if directory:
        for written in write_report(directory, run):
            terminalreporter.write_line(f"prunebench: report written to {written}")
    results_path = config.option.prunebench_results_json
    if results_path:
        write_conformance(run, results_path)
        terminalreporter.write_line(f"prunebench: conformance results written to {results_path}")
    if directory and state.expected is not None:
        run_status.finish(directory, state.finished, state.expected, lingering)
