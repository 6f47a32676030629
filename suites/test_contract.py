"""The generic checks, run on every rule class a backend provides (or on the one class under ``prunebench check``).

Test ids read ``[backend-Class-device-dtype-check-case]``, where the case is the bench (``mlp``, ``cnn``)
or layer chain the check ran on; each check is a plain function in ``suites/contract`` that
``parametrize_with_checks`` hands to users' own test files as well.
"""

from __future__ import annotations

import pytest
import torch
from prunebench.harness.errors import UnsupportedError
from prunebench.harness.subjects import PRUNER, SPARSIFIER, Subject

from .contract.registry import CONTRACT_TESTS, Check, case_id, check_cases, run_check

CHECK_PARAMETERS = {test: kind for kind, test in CONTRACT_TESTS.items()}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    kind = CHECK_PARAMETERS.get(metafunc.function.__name__)
    if kind is not None:
        cases = check_cases(kind)
        metafunc.parametrize(("check", "case"), cases, ids=[case_id(check, case) for check, case in cases])


def _run(backend, subject: Subject | None, check: Check, case: str, device: str, dtype: torch.dtype, kind: str):
    if subject is None:
        raise UnsupportedError(f"backend {backend.name!r} provides no {kind} class")
    run_check(subject, check, case, device, str(dtype).removeprefix("torch."))


@pytest.mark.subjects(SPARSIFIER)
def test_sparsifier(backend, subject, check, case, device, dtype):
    _run(backend, subject, check, case, device, dtype, SPARSIFIER)


@pytest.mark.subjects(PRUNER)
def test_pruner(backend, subject, check, case, device, dtype):
    _run(backend, subject, check, case, device, dtype, PRUNER)
