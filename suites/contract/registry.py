"""The list of generic checks: one record per check, found by the subject's kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from prunebench.harness.subjects import PRUNER, SPARSIFIER, Subject

CheckFunction = Callable[[Subject, str, torch.dtype], None]


@dataclass(frozen=True)
class Check:
    """One generic check: a function of ``(subject, device, dtype)``, and the base methods it exercises.

    ``relies_on`` names the lifecycle methods whose behaviour the check judges. When a subject inherits
    all of them unchanged from a library (torch, torchao), that library's declared expected failures for
    the check apply to the subject too: the bug is inherited, not the subject's.
    """

    name: str
    function: CheckFunction
    relies_on: tuple[str, ...] = ()

    def __call__(self, subject: Subject, device: str, dtype: torch.dtype) -> None:
        self.function(subject, device, dtype)


CONTRACT_TESTS: dict[str, str] = {SPARSIFIER: "test_sparsifier", PRUNER: "test_pruner"}
"""The test function of ``suites/test_contract.py`` that runs the checks of each kind."""


def contract_test_id(subject: Subject, check: Check, device: str, dtype_name: str) -> str:
    """The check's id as the ``contract`` suite names it, without a backend: what expected failures match."""
    return f"test_contract.py::{CONTRACT_TESTS[subject.kind]}[{subject.name}-{device}-{dtype_name}-{check.name}]"


def checks_for(kind: str) -> list[Check]:
    """Every check for subjects of ``kind``, in a stable order (their names are test ids)."""
    from . import lifecycle_checks, pruner_checks

    checks = (
        lifecycle_checks.SHARED
        + {
            SPARSIFIER: lifecycle_checks.SPARSIFIER_ONLY,
            PRUNER: pruner_checks.PRUNER_ONLY,
        }[kind]
    )
    names = [check.name for check in checks]
    if len(set(names)) != len(names):
        raise AssertionError(f"two {kind} checks share a name: {sorted(n for n in names if names.count(n) > 1)}")
    return list(checks)
