"""The list of generic checks: one record per check, found by the subject's kind, with the cases it runs on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from prunebench.harness.errors import UnsupportedError
from prunebench.harness.matrix import DTYPES
from prunebench.harness.subjects import PRUNER, SPARSIFIER, Subject

CheckFunction = Callable[[Subject, str, torch.dtype, str], None]


@dataclass(frozen=True)
class Check:
    """One generic check: a function of ``(subject, device, dtype, case)``, the cases it runs on, and the
    base methods it exercises.

    ``cases`` name what the check runs on: a bench of ``workbench.BENCHES`` (an MLP, a CNN) or a layer
    chain of ``suites/chains.py``; each is its own test, so a failure names the layer type it shows on.
    ``relies_on`` names the lifecycle methods whose behaviour the check judges. When a subject inherits
    all of them unchanged from a library (torch, torchao), that library's declared expected failures for
    the check apply to the subject too: the bug is inherited, not the subject's.
    """

    name: str
    function: CheckFunction
    relies_on: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()

    def __call__(self, subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
        self.function(subject, device, dtype, case)


CONTRACT_TESTS: dict[str, str] = {SPARSIFIER: "test_sparsifier", PRUNER: "test_pruner"}
"""The test function of ``suites/test_contract.py`` that runs the checks of each kind."""


def case_id(check: Check, case: str) -> str:
    """``check-case``: how a check on one case is named in every test id."""
    return f"{check.name}-{case}"


def contract_test_id(subject: Subject, check: Check, case: str, device: str, dtype_name: str) -> str:
    """The check's id as the ``contract`` suite names it, without a backend: what expected failures match."""
    return (
        f"test_contract.py::{CONTRACT_TESTS[subject.kind]}[{subject.name}-{device}-{dtype_name}-{case_id(check, case)}]"
    )


def checks_for(kind: str) -> list[Check]:
    """Every check for subjects of ``kind``, in a stable order (their names are test ids)."""
    from . import lifecycle_checks, pruner_checks, state_checks

    checks = (
        lifecycle_checks.SHARED
        + state_checks.STATE
        + {
            SPARSIFIER: lifecycle_checks.SPARSIFIER_ONLY,
            PRUNER: pruner_checks.PRUNER_ONLY,
        }[kind]
    )
    names = [check.name for check in checks]
    if len(set(names)) != len(names):
        raise AssertionError(f"two {kind} checks share a name: {sorted(n for n in names if names.count(n) > 1)}")
    empty = [check.name for check in checks if not check.cases]
    if empty:
        raise AssertionError(f"{kind} checks with no case to run on: {empty}")
    return list(checks)


def check_cases(kind: str) -> list[tuple[Check, str]]:
    """Every (check, case) pair for subjects of ``kind``: one test each."""
    return [(check, case) for check in checks_for(kind) for case in check.cases]


def run_check(subject: Subject, check: Check, case: str, device: str, dtype_name: str) -> None:
    """Run one check on one case: both front ends (the ``contract`` suite under ``prunebench check`` and
    ``parametrize_with_checks``) come through here, so one class gets one verdict either way."""
    if dtype_name not in subject.tags.dtypes:
        raise UnsupportedError(f"{subject.name} declares dtypes {list(subject.tags.dtypes)}: not {dtype_name}")
    check(subject, device, DTYPES[dtype_name], case)
