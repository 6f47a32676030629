"""Installing prunebench changes nothing in a pytest run that does not use it, and one class gets one verdict.

The plugin is registered with every pytest of the environment; these runs are a stranger's: a test file that
has nothing to do with pruning, and one that validates its own class with ``parametrize_with_checks``, each
run in a fresh interpreter as its author would run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import environment_outside_xdist

ROOT = Path(__file__).resolve().parent.parent

UNRELATED = textwrap.dedent(
    """
    import json, sys

    def test_something_else(pytestconfig, tmp_path_factory):
        seen = {
            "numprocesses": pytestconfig.getoption("numprocesses", None),
            "timeout": pytestconfig.getoption("timeout", None),
            "torch imported": "torch" in sys.modules,
            "prunebench plugin": "prunebench.harness.plugin" in sys.modules,
            "plugins with hooks": sorted(
                name for name, _ in pytestconfig.pluginmanager.list_name_plugin() if "prunebench" in str(name)
            ),
        }
        print("SEEN " + json.dumps(seen, sort_keys=True))
    """
)


def _pytest(directory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in environment_outside_xdist().items() if key != "PRUNEBENCH_WORKERS"}
    env.pop("PRUNEBENCH_BACKEND", None)
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=directory, env=env)


def _seen(run: subprocess.CompletedProcess) -> dict:
    line = next((line for line in run.stdout.splitlines() if line.startswith("SEEN ")), None)
    assert line is not None and run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return json.loads(line.removeprefix("SEEN "))


def test_unrelated_run_is_as_without_prunebench(tmp_path):
    """Same options, no torch import, no worker process, no time limit, no header: as with -p no:prunebench."""
    (tmp_path / "test_unrelated.py").write_text(UNRELATED)
    installed = _seen(_pytest(tmp_path, "test_unrelated.py"))
    without = _seen(_pytest(tmp_path, "test_unrelated.py", "-p", "no:prunebench"))
    assert not installed["torch imported"] and not installed["prunebench plugin"], installed
    assert installed["numprocesses"] == without["numprocesses"] is None, (installed, without)
    assert installed["timeout"] == without["timeout"], (installed, without)


def test_naming_a_backend_brings_the_plugin(tmp_path):
    """The same file with --backend is a prunebench run: the plugin is loaded, with its default time limit."""
    (tmp_path / "test_unrelated.py").write_text(UNRELATED)
    seen = _seen(_pytest(tmp_path, "test_unrelated.py", "--backend=reference", "-n0"))
    assert seen["prunebench plugin"] and seen["timeout"], seen


OWN_SUITE = textwrap.dedent(
    """
    from own_pruners import L1RowPruner
    from prunebench import parametrize_with_checks


    @parametrize_with_checks([L1RowPruner])
    def test_checks(subject, check):
        check(subject)
    """
)
SELECTED = "load_state_dict_leaves_argument_intact or prepare_without_config"
"""Checks whose outcomes differ by dtype for L1RowPruner on torch's bases (an inherited float16 bug) and
include a pass: enough to compare the two front ends, cheaply."""
OUTCOME_WORDS = {"PASSED": "passed", "FAILED": "failed", "XFAIL": "xfailed", "XPASS": "xpassed", "SKIPPED": "skipped"}


def _verdicts_of_own_suite(tmp_path: Path) -> dict[tuple[str, str, str], str]:
    (tmp_path / "test_own.py").write_text(OWN_SUITE)
    run = _pytest(tmp_path, "test_own.py", "-rA", f"-k={SELECTED}")
    verdicts = {}
    for line in run.stdout.splitlines():
        match = re.match(r"(PASSED|FAILED|XFAIL|XPASS|SKIPPED)\S* .*\[L1RowPruner-([a-z_]+)-(\w+)-cpu-(\w+)\]", line)
        if match:
            word, check, case, dtype = match.groups()
            verdicts[(check, case, dtype)] = OUTCOME_WORDS[word]
    assert verdicts, run.stdout[-3000:]
    return verdicts


def _verdicts_of_check(tmp_path: Path) -> dict[tuple[str, str, str], str]:
    report = tmp_path / "report"
    command = [sys.executable, "-m", "prunebench.harness.cli", "check", "own_pruners:L1RowPruner", f"-k={SELECTED}"]
    run = subprocess.run(
        [*command, f"--report={report}"], capture_output=True, text=True, timeout=600, cwd=ROOT, env=os.environ.copy()
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    verdicts = {}
    for record in json.loads((report / "conformance.json").read_text())["records"]:
        match = re.search(r"\[L1RowPruner-cpu-(\w+)-([a-z_]+)-(\w+)\]", record["cell"]["reproduction_id"])
        dtype, check, case = match.groups()
        verdicts[(check, case, dtype)] = "skipped" if record["outcome"] == "unsupported" else record["outcome"]
    return verdicts


def test_both_front_ends_give_one_verdict(tmp_path):
    """``prunebench check`` and ``parametrize_with_checks`` (its plugin not even active): the same cases, the
    same outcome for each, torch's inherited float16 bug an expected failure in both."""
    own = _verdicts_of_own_suite(tmp_path)
    check = _verdicts_of_check(tmp_path)
    assert own == check, f"parametrize_with_checks: {own}\nprunebench check: {check}"
    assert "xfailed" in own.values() and "passed" in own.values(), own


def test_a_test_of_ones_own_asking_for_backend_is_told_how(tmp_path):
    (tmp_path / "test_mine.py").write_text("def test_mine(backend):\n    assert backend.name == 'reference'\n")
    told = _pytest(tmp_path, "test_mine.py")
    assert told.returncode != 0 and "--backend=NAME" in told.stdout, told.stdout[-2000:]
    named = _pytest(tmp_path, "test_mine.py", "--backend=reference", "-n0")
    assert named.returncode == 0 and "1 passed" in named.stdout, named.stdout[-2000:]
