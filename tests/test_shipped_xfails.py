"""Every expected-failures file shipped with a built-in backend (and the example package) is classified and current.

The published conformance report sorts each expected failure into a class, so a reason that does not
start with one cannot be published; an entry that matches no collected test is a stale claim about a
library. Both are checked here for every file, in every dtype the suites collect, the perf suites included.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prunebench.harness.backend import BUILTIN_BACKENDS, Backend, resolve_backend
from prunebench.harness.cell import backend_free_id
from prunebench.harness.errors import UsageError
from prunebench.harness.xfails import ExpectedFailure, load_xfails

from .conftest import SUITES, environment_outside_xdist, run_suites

CLASSIFICATION = re.compile(r"(library bug|contract difference|adapter limit)\b[^:]*:")
"""A reason starts with its class, optionally qualified: 'library bug (pytorch/pytorch#134220): ...'."""

SHIPPED = [*sorted(BUILTIN_BACKENDS), "my_pruner"]
DECLARE_NOTHING = {"reference"}
"""Backends the suites find nothing wrong with."""


def _resolve(name: str) -> Backend | str:
    try:
        return resolve_backend(name)
    except UsageError as error:  # an optional library or the example package is not installed here
        return f"backend {name!r} is not installed: {error}"


# Resolved here, once: pytester's in-process runs drop the modules first imported inside them, and
# importing torchao or torch-pruning a second time re-registers torch operators and fails.
RESOLVED = {name: _resolve(name) for name in SHIPPED}


@pytest.mark.parametrize("name", SHIPPED)
def test_xfails_entries_are_classified_and_current(pytester, name):
    backend = RESOLVED[name]
    if isinstance(backend, str):
        pytest.skip(backend)
    if backend.xfails_file is None:
        assert name in DECLARE_NOTHING, f"built-in {name!r} ships no expected-failures file"
        return
    entries = load_xfails(backend.xfails_file)
    assert entries, f"{backend.xfails_file} declares nothing; drop the file instead"
    unclassified = [
        f"{entry.source}: {entry.reason[:60]}" for entry in entries if not CLASSIFICATION.match(entry.reason)
    ]
    assert not unclassified, f"reasons that start with no class ({CLASSIFICATION.pattern}): {unclassified}"
    result = run_suites(
        pytester,
        str(SUITES),
        str(SUITES / "perf"),
        f"--backend={name}",
        "--dtype=float32,float16,bfloat16",
        "--collect-only",
    )
    lines = [line.strip() for line in result.stdout.lines if re.match(r"\S+\.py::", line)]
    short = [f"{Path(path).name}::{rest}" for path, _, rest in (line.partition("::") for line in lines)]
    collected = [backend_free_id(test, backend.name) for test in short]  # as the plugin matches
    assert collected, result.stdout.str()
    own = [entry for entry in entries if _declared_in(entry, backend.xfails_file)]
    stale = [f"{entry.source}: {entry.prefix}" for entry in own if not any(map(entry.matches, collected))]
    assert not stale, f"expected failures matching no collected test: {stale}"


def _declared_in(entry: ExpectedFailure, path: Path) -> bool:
    """Whether ``entry`` is written in ``path`` itself, not pulled in by an ``include``.

    An included entry is judged in the run of the backend whose own file declares it: ``include torch``
    brings entries about classes the including backend may not provide (torch's WeightNormSparsifier),
    which are idle there, not stale.
    """
    return Path(entry.source.rsplit(":", 1)[0]).resolve() == path.resolve()


MATRIX = "float32,float16,bfloat16"
"""README's dtype matrix: every shipped entry must hold in each of them, or name the dtypes where it does."""


@pytest.mark.matrix  # minutes per backend: its own job, tox -e xfails-matrix (README)
@pytest.mark.parametrize("name", [name for name in SHIPPED if name not in DECLARE_NOTHING])
def test_expected_failures_still_fail_in_every_dtype(tmp_path, name):
    """Each built-in's declared failures, run across the dtype matrix (nothing else is run): none passes.

    A declared failure that passes in one dtype (a tolerance that hides the bug there) would fail every
    run of that matrix as an XPASS, and would tell maintainers the library fixed a bug it did not fix.
    """
    backend = RESOLVED[name]
    if isinstance(backend, str):
        pytest.skip(backend)
    results = tmp_path / "results.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITES),
        f"--backend={name}",
        f"--dtype={MATRIX}",
        "--only-expected-failures",
        "-n0",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "--tb=no",
        "-q",
        f"--results-json={results}",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=3000, env=environment_outside_xdist())
    records = json.loads(results.read_text())["records"] if results.exists() else []
    assert records, f"no expected failure of {name} ran:\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
    wrong = sorted(
        f"{r['outcome']}: {r['cell']['reproduction_id']}"
        for r in records
        if r["outcome"] in ("xpassed", "failed", "crashed")  # a declared failure found unsupported is only idle
    )
    assert not wrong, f"{len(wrong)} of {len(records)} declared failures of {name} did not fail as declared:\n" + (
        "\n".join(wrong[:40])
    )
