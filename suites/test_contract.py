"""The generic checks, run on every rule class a backend provides (or on the one class under ``prunebench check``).

Test ids read ``[backend-Class-device-dtype-check]``; each check is a plain function in
``suites/contract`` that ``parametrize_with_checks`` hands to users' own test files as well.
"""

from __future__ import annotations

import pytest
import torch
from prunebench.harness.errors import UnsupportedError
from prunebench.harness.subjects import PRUNER, SPARSIFIER, Subject

from .contract.registry import CONTRACT_TESTS, Check, checks_for

CHECK_PARAMETERS = {test: kind for kind, test in CONTRACT_TESTS.items()}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    kind = CHECK_PARAMETERS.get(metafunc.function.__name__)
    if kind is not None:
        metafunc.parametrize("check", checks_for(kind), ids=lambda check: check.name)


def _run(backend, subject: Subject | None, check: Check, device: str, dtype: torch.dtype, kind: str) -> None:
    if subject is None:
        raise UnsupportedError(f"backend {backend.name!r} provides no {kind} class")
    check(subject, device, dtype)


@pytest.mark.subjects(SPARSIFIER)
def test_sparsifier(backend, subject, check, device, dtype):
    _run(backend, subject, check, device, dtype, SPARSIFIER)


@pytest.mark.subjects(PRUNER)
def test_pruner(backend, subject, check, device, dtype):
    _run(backend, subject, check, device, dtype, PRUNER)
