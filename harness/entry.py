"""The ``pytest11`` entry point: prunebench's options, and its plugin only in runs that use prunebench.

Every pytest in an environment with prunebench installed loads this module, so it imports nothing heavy
(no torch) and changes nothing by itself: the plugin proper (``harness.plugin``: backends, matrix,
time limits, scoreboard, report) is imported and registered only when ``harness.activation`` says the
run uses prunebench. The process-control hooks of ``harness.watchdog`` and the ordering hooks of
``harness.scheduling`` are loaded always (their options and hooks must exist from the command line's
parsing on) and act only in such runs too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .activation import is_active
from .errors import NotApplicableError, UnsupportedError
from .names import BACKEND_ENV, DEFAULT_BACKEND, DTYPE_NAMES, SELF_TEST_MARKER

pytest_plugins = ["prunebench.harness.watchdog", "prunebench.harness.scheduling"]
PLUGIN = "prunebench.harness.plugin"


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
        help=f"weight dtypes, comma-separated ({', '.join(DTYPE_NAMES)}). Default: float32; with --check, every "
        "dtype the devices compute in.",
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
        help="write the run's JSON document here (every outcome with its cell, duration and peak memory; "
        "failures; scoreboard), atomically.",
    )
    group.addoption(
        "--record-memory",
        dest="prunebench_record_memory",
        action="store_true",
        help="measure each test's peak memory on CPU too (torch.profiler; slower). CUDA is always measured.",
    )
    group.addoption(
        "--only-expected-failures",
        dest="prunebench_only_expected_failures",
        action="store_true",
        help="run only the tests an expected-failures file declares (each must still fail: a pass is an XPASS).",
    )
    group.addoption(
        "--report-dir",
        dest="prunebench_report_dir",
        default=None,
        help="write the conformance report here: conformance.json, scoreboard.md, failures.md (with repro "
        "commands) and run.json (whether the run finished).",
    )


@pytest.hookimpl(tryfirst=True)  # the plugin's own pytest_configure must run before pytest-timeout's
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(*names): backend names the test needs")
    config.addinivalue_line("markers", "subjects(kind): the test runs once per class of that kind (generic checks)")
    config.addinivalue_line("markers", f"{SELF_TEST_MARKER}: a test of the harness itself, not a conformance suite")
    if is_active(config):
        config.pluginmanager.import_plugin(PLUGIN)  # its pytest_configure runs now (a historic hook)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test of a user's own that asks for prunebench's ``backend`` fixture in a run that names no backend:
    say how to run it, instead of pytest's bare "fixture 'backend' not found"."""
    if is_active(metafunc.config) or "backend" not in metafunc.fixturenames:
        return
    if "backend" in getattr(metafunc, "_arg2fixturedefs", {}):
        return  # the user's own fixture of that name
    raise pytest.UsageError(
        f"{metafunc.definition.nodeid} asks for prunebench's 'backend' fixture, but this run uses no prunebench "
        f"backend: name one with --backend=NAME (e.g. --backend={DEFAULT_BACKEND}) or ${BACKEND_ENV}"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """Outside prunebench runs (``parametrize_with_checks`` in a user's suite): a check that raised
    ``Unsupported`` or ``NotApplicable`` is reported as a skip saying so, never as a failure."""
    report = yield
    if is_active(item.config) or call.excinfo is None or report.when != "call":
        return report
    for error, outcome in ((UnsupportedError, "unsupported"), (NotApplicableError, "not applicable")):
        if call.excinfo.errisinstance(error):
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1], f"{outcome}: {call.excinfo.value}")
    return report
