"""The pytest plugin: selects backends, parametrizes the device/dtype matrix, keeps the scoreboard.

Loaded through the ``pytest11`` entry point. Tests opt in by requesting the ``backend``, ``device``
or ``dtype`` fixtures; ``@pytest.mark.requires("Name", ...)`` turns a missing backend name into an
*unsupported* outcome, and expected-failure files mark known bugs as strict xfails.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from . import run_status
from .atomic import write_text_atomic
from .backend import DEFAULT_BACKEND, Backend, check_backend, resolve_backends, unchecked_warning
from .benchmark_import import case_id
from .environment import describe_environment
from .errors import UnsupportedError, UsageError
from .global_state import GlobalStateMutationError, TorchGlobalState
from .mask_access import using_mask_access
from .matrix import DTYPES, parse_devices, parse_dtypes
from .memory import PeakMemoryProbe, memory_method
from .report import Failure, failure_message, write_report
from .results import Case, Results, write_results
from .scoreboard import CRASH_MARK, Scoreboard, classify, suite_of
from .subjects import subjects_of_backend
from .xfails import ExpectedFailure, builtin_xfails_file, load_xfails, match_xfail

pytest_plugins = ["harness.watchdog"]
"""Loaded with this plugin: its hooks run from the command line's parsing on (before ``pytest_configure``)."""

BACKEND_ENV = "PRUNEBENCH_BACKEND"
_STATE = pytest.StashKey["PluginState"]()
_BACKEND_PROPERTY = "prunebench_backend"
_SEED_PROPERTY = "prunebench_seed"
_DEVICE_PROPERTY = "prunebench_device"
_MEMORY_PROPERTY = "prunebench_peak_memory"
_TEST_ID_PROPERTY = "prunebench_test_id"
_SUITE_PROPERTY = "prunebench_suite"
SELF_TEST_MARKER = "prunebench_self_test"
"""Marks the harness's own tests (tests/conftest.py adds it): their scoreboard rows say "self-test"."""
DEFAULT_TEST_TIMEOUT_S = 300.0
"""Per-test limit when the user sets none: far above any conformance or perf test, far below forever."""


class PluginState:
    """What the plugin resolved once per session: backends, matrix, expected failures, scoreboard."""

    def __init__(self, config: pytest.Config) -> None:
        option = config.option
        before_import = TorchGlobalState.capture()
        try:
            self.backends: list[Backend] = _selected_backends(option)
            _check_import_left_state(before_import, self.backends)
            self.devices = parse_devices(option.prunebench_device)
            self.dtypes = parse_dtypes(option.prunebench_dtype)
            self.user_xfails = [e for path in option.prunebench_xfails for e in load_xfails(Path(path))]
            self.backend_xfails = {
                backend.name: load_xfails(backend.xfails_file) if backend.xfails_file else []
                for backend in self.backends
            }
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        self.scoreboard = Scoreboard()
        self.collected_functions: set[str] = set()
        self.library_xfails: dict[str, list[ExpectedFailure]] = {}
        self.finished = 0
        self.expected: int | None = None
        """Tests that ran to their end, of those collected: set when the session finishes (controller only)."""

    @property
    def check_subject(self) -> Any:
        """The class under ``prunebench check`` (``--check``), or None in a run of libraries."""
        return self.backends[0].subject if len(self.backends) == 1 else None

    def xfail_for(self, backend: str, test_id: str) -> ExpectedFailure | None:
        """The entry declaring ``test_id`` (written without the backend's name) an expected failure."""
        return match_xfail(test_id, self.backend_xfails.get(backend, [])) or match_xfail(test_id, self.user_xfails)

    def inherited_xfail(self, library: str, test_id: str) -> ExpectedFailure | None:
        """The entry of a built-in library's own file that declares ``test_id`` an expected failure there."""
        if library not in self.library_xfails:
            path = builtin_xfails_file(library)
            self.library_xfails[library] = load_xfails(path) if path else []
        return match_xfail(test_id, self.library_xfails[library])

    def stale_xfails(self) -> list[ExpectedFailure]:
        """Entries naming a test function that no longer exists in a module that was collected.

        An entry for a device or dtype outside this run's matrix is not stale, merely idle.
        """
        entries = self.user_xfails + [e for es in self.backend_xfails.values() for e in es]
        modules = {function.split("::", 1)[0] for function in self.collected_functions}
        return [
            entry
            for entry in entries
            if not entry.matched
            and entry.prefix.split("::", 1)[0] in modules
            and entry.prefix.split("[", 1)[0] not in self.collected_functions
        ]


def _check_import_left_state(before: TorchGlobalState, backends: list[Backend]) -> None:
    """Importing a backend must not change process-wide state: every later test would run under it."""
    changes = TorchGlobalState.capture().changes_since(before)
    if changes:
        before.restore()
        names = ", ".join(backend.name for backend in backends)
        raise UsageError(f"importing backend(s) {names} changed process-wide state: {'; '.join(changes)}")


def _selected_backends(option: Any) -> list[Backend]:
    """``--check`` (one class) or ``--backend`` / ``$PRUNEBENCH_BACKEND`` (libraries); not both."""
    if option.prunebench_check:
        if option.prunebench_backend:
            raise UsageError("--check validates one class and --backend selects libraries: give one of them")
        return [check_backend(option.prunebench_check, option.prunebench_check_kwargs, option.prunebench_like)]
    if option.prunebench_check_kwargs is not None or option.prunebench_like:
        raise UsageError("--check-kwargs and --like apply to the class given with --check")
    if option.prunebench_backend is not None:
        return resolve_backends(option.prunebench_backend)  # given but empty (an unset shell variable): an error
    return resolve_backends(os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND)


def backend_free_id(test_id: str, backend: str) -> str:
    """``test_x.py::test_y[torch-cpu-float32]`` -> ``test_x.py::test_y[cpu-float32]``.

    Expected failures are written without backend names, so one file serves every backend built on the
    same code (a user's class inheriting torch's bases, an adapter of a copy) without copying it.
    """
    head, _, params = test_id.partition("[")
    if params.startswith(f"{backend}-"):
        return f"{head}[{params[len(backend) + 1 :]}"
    if params.startswith(f"{backend}]"):
        return f"{head}{params[len(backend) + 1 :]}"
    return test_id


def short_test_id(nodeid: str) -> str:
    """``suites/test_x.py::test_y[a-b]`` -> ``test_x.py::test_y[a-b]``: independent of the rootdir."""
    path, sep, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + sep + rest


def item_test_id(item: pytest.Item) -> str:
    """The item's short id, from its file rather than its node id.

    ``pytest --pyargs suites`` run outside the rootdir gives node ids without a path
    (``::test_y[...]``); expected failures, seeds and suite names must not depend on that.
    """
    return f"{item.path.name}::{item.nodeid.partition('::')[2]}"


def runnable_test_id(item: pytest.Item) -> str:
    """An id pytest accepts from any directory: the file's absolute path, then the test."""
    return f"{item.path}::{item.nodeid.partition('::')[2]}"


def seed_for(nodeid: str) -> int:
    """A stable per-test seed: re-running one test id reproduces its random inputs exactly."""
    return zlib.crc32(short_test_id(nodeid).encode())


def suite_label(item: pytest.Item, short_id: str) -> str:
    """The scoreboard's suite of a test: its module's name, marked when it is a harness self-test."""
    suite = suite_of(short_id)
    return f"self-test: {suite}" if item.get_closest_marker(SELF_TEST_MARKER) else suite


def item_seed(item: pytest.Item) -> int:
    """The seed of a test, from its id *without* the backend: every backend gets the same inputs, so two
    backends' results are like for like (and an input-dependent failure does not follow a name)."""
    short_id = item_test_id(item)
    backend = getattr(getattr(item, "callspec", None), "params", {}).get("backend")
    return seed_for(backend_free_id(short_id, backend.name) if isinstance(backend, Backend) else short_id)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prunebench", "prunebench conformance harness")
    group.addoption(
        "--backend",
        dest="prunebench_backend",
        default=None,
        help="backend(s) under test, comma-separated: built-in name (reference, torch), entry point, "
        f"or import path pkg.mod[:attr]. Default: ${BACKEND_ENV} or '{DEFAULT_BACKEND}'.",
    )
    group.addoption(
        "--device",
        dest="prunebench_device",
        default=None,
        help="devices, comma-separated (cpu, cuda). Default: every available device.",
    )
    group.addoption(
        "--dtype",
        dest="prunebench_dtype",
        default=None,
        help=f"weight dtypes, comma-separated ({', '.join(DTYPES)}). Default: float32.",
    )
    group.addoption(
        "--xfails",
        dest="prunebench_xfails",
        action="append",
        default=[],
        help="expected-failures file of 'TEST_ID_PREFIX | reason' lines (repeatable).",
    )
    group.addoption(
        "--check",
        dest="prunebench_check",
        default=None,
        help="validate one class, MODULE:CLASS (a BaseSparsifier or BaseStructuredSparsifier subclass), "
        "with the generic checks instead of a backend's contract names.",
    )
    group.addoption(
        "--check-kwargs",
        dest="prunebench_check_kwargs",
        default=None,
        help="constructor arguments of the --check class, as a JSON object.",
    )
    group.addoption(
        "--like",
        dest="prunebench_like",
        default=None,
        help="the contract class (e.g. SaliencyPruner) whose selection rule the --check class claims: "
        "its suites and differential checks run against the class too.",
    )
    group.addoption(
        "--results-json",
        dest="prunebench_results_json",
        default=None,
        help="write a conformance results file: wall time (and peak memory) of every test, per cell.",
    )
    group.addoption(
        "--record-memory",
        dest="prunebench_record_memory",
        action="store_true",
        help="measure each test's peak memory on CPU too (torch.profiler; slower). CUDA is always measured.",
    )
    group.addoption(
        "--report-dir",
        dest="prunebench_report_dir",
        default=None,
        help="write the conformance report here: scoreboard.json, scoreboard.md, failures.md (with repro commands).",
    )
    group.addoption(
        "--scoreboard-json",
        dest="prunebench_scoreboard_json",
        default=None,
        help="also write the scoreboard as JSON to this path (atomically).",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-timeout reads its settings
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(*names): backend names the test needs")
    config.addinivalue_line("markers", "subjects(kind): the test runs once per class of that kind (generic checks)")
    config.addinivalue_line("markers", f"{SELF_TEST_MARKER}: a test of the harness itself, not a conformance suite")
    _default_timeout(config)
    state = PluginState(config)
    config.stash[_STATE] = state
    xfails_options = tuple(f"--xfails={path}" for path in config.option.prunebench_xfails or ())
    config.pluginmanager.register(
        ScoreboardRecorder(state.scoreboard, state.backends, xfails_options), "prunebench-scoreboard"
    )


def _default_timeout(config: pytest.Config) -> None:
    """Give every test a timeout unless the user chose one, so a hanging backend fails one test, not the run.

    pytest-timeout's ``--timeout``, ``PYTEST_TIMEOUT`` and ini ``timeout`` all take precedence.
    """
    if not config.pluginmanager.hasplugin("timeout"):
        return
    chosen = config.getoption("timeout", None) is not None or os.environ.get("PYTEST_TIMEOUT")
    if not chosen and not config.getini("timeout"):
        config.option.timeout = DEFAULT_TEST_TIMEOUT_S


def _state(config: pytest.Config) -> PluginState:
    return config.stash[_STATE]


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = _state(config)
    lines = [f"prunebench: torch {torch.__version__}, devices {state.devices}, dtypes {state.dtypes}"]
    for backend in state.backends:
        lines.append(
            f"prunebench backend {backend.name} {backend.version} ({backend.source}): "
            f"{len(backend.provided())} of 9 names"
            + ("; masks read through its own mask_access" if backend.mask_access is not None else "")
        )
        warning = unchecked_warning(backend)
        if warning:
            lines.append(f"prunebench warning: {warning}")
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = _state(metafunc.config)
    if metafunc.definition.get_closest_marker("subjects") is not None:
        metafunc.parametrize(("backend", "subject"), _subject_params(metafunc, state.backends))
    elif "backend" in metafunc.fixturenames:
        params = [pytest.param(backend, id=backend.name) for backend in state.backends]
        metafunc.parametrize("backend", params)
    if "device" in metafunc.fixturenames:  # every device here is available: parse_devices rejects the others
        metafunc.parametrize("device", [pytest.param(device, id=device) for device in state.devices])
    if "dtype" in metafunc.fixturenames:
        metafunc.parametrize("dtype", [pytest.param(DTYPES[name], id=name) for name in state.dtypes])


def _subject_params(metafunc: pytest.Metafunc, backends: list[Backend]) -> list[Any]:
    """(backend, subject) pairs for a test of the generic checks: the ``--check`` class, or each rule class
    of the test's kind a backend provides (a backend with none: one pair with no subject, *unsupported*)."""
    kind = metafunc.definition.get_closest_marker("subjects").args[0]
    params = []
    for backend in backends:
        if backend.subject is not None:
            subjects = [backend.subject] if backend.subject.kind == kind else []
        else:
            subjects = subjects_of_backend(backend, kind)
        for subject in subjects:  # under --check the backend is the subject: name it once
            name = subject.name if backend.subject is not None else f"{backend.name}-{subject.name}"
            params.append(pytest.param(backend, subject, id=name))
        if not subjects and backend.subject is None:
            params.append(pytest.param(backend, None, id=f"{backend.name}-none"))
    return params


def _applies_to_check(item: pytest.Item, backend: Backend) -> bool:
    """In a ``prunebench check`` run: the generic checks, and the tests of the rule named by ``--like``."""
    marker = item.get_closest_marker("subjects")
    if marker is not None:
        return marker.args[0] == backend.subject.kind
    required = {name for marker in item.iter_markers("requires") for name in marker.args}
    return bool(required) and all(backend.provides(name) for name in required)


def _expected_failure(state: PluginState, item: pytest.Item, backend: Backend, test_id: str) -> str | None:
    """The xfail reason of an item: its backend's (or the user's) entry, else one its subject inherits."""
    expected = state.xfail_for(backend.name, test_id)
    if expected is not None:
        return f"{expected.reason} [{expected.source}]"
    params = item.callspec.params
    subject, check = params.get("subject"), params.get("check")
    library = subject.inherited_from(getattr(check, "relies_on", ())) if subject is not None else None
    if library is None or library == backend.name:
        return None
    inherited = state.inherited_xfail(library, test_id)
    if inherited is None:
        return None
    methods = ", ".join(check.relies_on)
    return f"inherited from {library} ({methods} not overridden): {inherited.reason} [{inherited.source}]"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    if state.check_subject is not None:
        backend = state.backends[0]
        deselected = [item for item in items if not _applies_to_check(item, backend)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if _applies_to_check(item, backend)]
    for item in items:
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("backend")
        if not isinstance(backend, Backend):
            continue
        short_id = item_test_id(item)
        state.collected_functions.add(short_id.split("[", 1)[0])
        item.user_properties.append((_BACKEND_PROPERTY, backend.name))
        item.user_properties.append((_SEED_PROPERTY, item_seed(item)))
        item.user_properties.append((_SUITE_PROPERTY, suite_label(item, short_id)))
        item.user_properties.append((_TEST_ID_PROPERTY, runnable_test_id(item)))
        device = item.callspec.params.get("device")
        if isinstance(device, str):
            item.user_properties.append((_DEVICE_PROPERTY, device))
        missing = [n for m in item.iter_markers("requires") for n in m.args if not backend.provides(n)]
        if missing:
            reason = f"unsupported: backend {backend.name!r} does not provide {', '.join(missing)}"
            item.add_marker(pytest.mark.skip(reason=reason))
            continue
        reason = _expected_failure(state, item, backend, backend_free_id(short_id, backend.name))
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
    for entry in state.stale_xfails():
        warnings.warn(
            f"expected failure {entry.prefix!r} ({entry.source}) names a test that does not exist: stale entry?",
            pytest.PytestWarning,
            stacklevel=1,
        )


@pytest.fixture(autouse=True)
def _prunebench_seed(request: pytest.FixtureRequest) -> Iterator[int]:
    """Seed torch and random from the test id (without the backend), so a failing id reproduces exactly."""
    seed = item_seed(request.node)
    torch.manual_seed(seed)
    random.seed(seed)
    yield seed


@pytest.fixture(autouse=True)
def _prunebench_mask_access(request: pytest.FixtureRequest) -> Iterator[None]:
    """Read masks where the test's backend keeps them (``harness.mask_access``) for the whole test."""
    backend = getattr(getattr(request.node, "callspec", None), "params", {}).get("backend")
    with using_mask_access(backend.mask_access if isinstance(backend, Backend) else None):
        yield


def _memory_probe(item: pytest.Item) -> PeakMemoryProbe | None:
    """A probe for the test's device when its memory is recorded: always on CUDA, on CPU if asked."""
    device = dict(item.user_properties).get(_DEVICE_PROPERTY)
    if device is None:
        return None
    if device == "cuda" or item.config.option.prunebench_record_memory:
        return PeakMemoryProbe(device)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[None]:
    """Record peak memory, turn a missing name into *unsupported*, catch changes to torch's globals."""
    probe = _memory_probe(pyfuncitem)
    guarded = _BACKEND_PROPERTY in dict(pyfuncitem.user_properties)
    before = TorchGlobalState.capture() if guarded else None
    try:
        with probe or contextlib.nullcontext():
            result = yield
    except UnsupportedError as error:
        pytest.skip(f"unsupported: {error}")
    finally:
        if probe is not None and probe.peak_bytes is not None:
            pyfuncitem.user_properties.append((_MEMORY_PROPERTY, probe.peak_bytes))
        changes = _restore_global_state(before)
    if changes:
        raise GlobalStateMutationError(
            "the backend changed torch's process-wide state during this test (restored for the tests that "
            "follow): " + "; ".join(changes)
        )
    return result


def _restore_global_state(before: TorchGlobalState | None) -> list[str]:
    """What changed since ``before``, after putting it back; nothing when the test was not guarded."""
    if before is None:
        return []
    changes = TorchGlobalState.capture().changes_since(before)
    if changes:
        before.restore()
    return changes


HARNESS_FAULTS = (GlobalStateMutationError,)
TIMEOUT_MARK = "Timeout (>"
"""How pytest-timeout's signal method words the failure it raises inside a test that ran too long."""


def _harness_fault(call: pytest.CallInfo) -> str | None:
    """Why a failure must never count as an expected one: a timeout, or a change to process-wide state."""
    excinfo = call.excinfo
    if excinfo is None:
        return None
    if isinstance(excinfo.value, HARNESS_FAULTS):
        return "changed process-wide state"
    if excinfo.typename == "Failed" and TIMEOUT_MARK in str(excinfo.value):
        return "timed out"
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: sees the report after xfail handling
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    fault = _harness_fault(call)
    if fault is not None and hasattr(report, "wasxfail"):
        reason = report.wasxfail
        del report.wasxfail
        report.outcome = "failed"
        report.sections.append(
            ("prunebench", f"the test {fault}; its expected-failure entry ({reason}) does not cover that")
        )
    properties = dict(item.user_properties)
    if report.failed and _SEED_PROPERTY in properties:
        report.sections.append(
            ("prunebench", f"seed {properties[_SEED_PROPERTY]} (derived from the test id; rerun the id)")
        )
    return report


def _skip_reason(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return None


class ScoreboardRecorder:
    """Counts each test's outcome and keeps its wall time and peak memory as a conformance record.

    Registered once per session; under xdist it runs in the controller and sees the workers' reports.
    """

    def __init__(self, scoreboard: Scoreboard, backends: list[Backend], extra_options: tuple[str, ...] = ()) -> None:
        self.scoreboard = scoreboard
        self.backends = backends
        self.extra_options = extra_options
        self.cases: list[Case] = []
        self.failures: list[Failure] = []
        self.finished: set[str] = set()
        """Node ids whose test ran to its end (teardown reported, or crashed): compared with the collected count."""

    @staticmethod
    def _test_id(report: pytest.TestReport) -> str:
        """The runnable id recorded at collection; the node id for reports made outside the worker."""
        return str(dict(report.user_properties).get(_TEST_ID_PROPERTY, report.nodeid))

    def _record_case(self, report: pytest.TestReport, backend: str) -> None:
        properties = dict(report.user_properties)
        test_id = self._test_id(report)
        device = properties.get(_DEVICE_PROPERTY, "cpu")
        duration = report.duration
        peak = properties.get(_MEMORY_PROPERTY)
        self.cases.append(
            Case(
                id=f"{suite_of(test_id)}/{case_id(test_id, backend, device)}",
                backend=backend,
                device=device,
                operation=suite_of(test_id),
                params={"outcome": report.outcome},
                stats={"min": duration, "median": duration, "iqr": 0.0, "mean": duration, "rounds": 1},
                peak_memory_bytes=peak,
                memory_method=memory_method(device) if peak is not None else None,
            )
        )

    def results(self) -> Results:
        backends = [
            {"name": b.name, "version": b.version, "source": b.source, "own_mask_access": b.mask_access is not None}
            for b in self.backends
        ]
        return Results(kind="conformance", environment=describe_environment(), backends=backends, cases=self.cases)

    def _backend_of(self, report: pytest.TestReport) -> str | None:
        """The report's backend; read from the test id when a crashed worker's report lost its properties."""
        backend = dict(report.user_properties).get(_BACKEND_PROPERTY)
        crashed = report.failed and CRASH_MARK in str(report.longrepr)
        if backend is not None or not crashed or "[" not in report.nodeid:
            return backend  # a test without the property is no conformance test (its id may look like one)
        params = report.nodeid.split("[", 1)[1]
        names = sorted((b.name for b in self.backends), key=len, reverse=True)  # 'torch-x' before 'torch'
        return next((name for name in names if params.startswith((f"{name}-", f"{name}]"))), None)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" or (report.failed and CRASH_MARK in str(report.longrepr)):
            self.finished.add(report.nodeid)
        backend = self._backend_of(report)
        if backend is None:
            return
        if report.when == "call":
            self._record_case(report, backend)
        if report.failed:
            seed = dict(report.user_properties).get(_SEED_PROPERTY)
            option = next((b.options for b in self.backends if b.name == backend), ())
            message = failure_message(report.longreprtext)
            failure = Failure(self._test_id(report), backend, seed, message, option, self.extra_options)
            self.failures.append(failure)
        skip_reason = _skip_reason(report)
        crashed = report.failed and CRASH_MARK in str(report.longrepr)
        strict_xpass = report.failed and str(report.longrepr).startswith("[XPASS(strict)]")
        outcome = classify(report.when, report.outcome, skip_reason, hasattr(report, "wasxfail"), crashed, strict_xpass)
        if outcome is None:
            return
        reason = getattr(report, "wasxfail", None) if outcome == "xfailed" else skip_reason
        if crashed:
            reason = str(report.longrepr).strip().splitlines()[0]
        suite = dict(report.user_properties).get(_SUITE_PROPERTY) or suite_of(self._test_id(report))
        self.scoreboard.record(backend, suite, outcome, reason)


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
    recorder = config.pluginmanager.get_plugin("prunebench-scoreboard")
    state.finished, state.expected = len(recorder.finished), session.testscollected
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
    if state.scoreboard.counts:
        terminalreporter.section("prunebench scoreboard")
        terminalreporter.write_line(state.scoreboard.render())
    path = config.option.prunebench_scoreboard_json
    if path:
        write_text_atomic(path, json.dumps(state.scoreboard.as_dict(), indent=2) + "\n")
    recorder = config.pluginmanager.get_plugin("prunebench-scoreboard")
    if config.option.prunebench_report_dir:
        run = recorder.results()
        directory = config.option.prunebench_report_dir
        incomplete = f"cut short after {state.finished} of {state.expected} tests" if cut_short else None
        written_files = write_report(
            directory, state.scoreboard, recorder.failures, run.backends, run.environment, incomplete
        )
        for written in written_files:
            terminalreporter.write_line(f"prunebench: report written to {written}")
    results_path = config.option.prunebench_results_json
    if results_path:
        write_results(recorder.results(), results_path)
        terminalreporter.write_line(f"prunebench: conformance results written to {results_path}")
    if config.option.prunebench_report_dir and state.expected is not None:
        run_status.finish(config.option.prunebench_report_dir, state.finished, state.expected)
