"""``parametrize_with_checks``: the generic checks as pytest parameters of a user's own test.

Modelled on scikit-learn's ``parametrize_with_checks``: every (class, check, case, device, dtype) becomes
one test with a readable id, ``check(subject)`` runs it. It needs nothing of prunebench's pytest plugin
beyond what the plugin does for every run that has it installed (turning ``Unsupported`` into an
*unsupported* skip): a check that cannot apply is skipped with a reason that starts with
``unsupported:``, never passed, and an expected failure the class inherits from torch is a strict xfail
decided here, with the same entry ``prunebench check`` applies, so both give one verdict.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from prunebench.harness.matrix import parse_devices, parse_dtypes, supported_dtypes
from prunebench.harness.subjects import Subject, subject_of
from prunebench.harness.xfails import inherited_failure
from prunebench.suites.contract.registry import Check, case_id, check_cases, contract_test_id, run_check


@dataclass(frozen=True)
class BoundCheck:
    """One generic check on one case, device and dtype; call it with the subject it was generated for."""

    check: Check
    case: str
    device: str
    dtype_name: str

    @property
    def id(self) -> str:
        return f"{case_id(self.check, self.case)}-{self.device}-{self.dtype_name}"

    def __call__(self, subject: Subject) -> None:
        """Run the check, seeded from its id; ``Unsupported`` propagates (reported as unsupported)."""
        seed = zlib.crc32(f"{subject.name}-{self.id}".encode())
        torch.manual_seed(seed)
        random.seed(seed)
        run_check(subject, self.check, self.case, self.device, self.dtype_name)

    def expected_failure(self, subject: Subject) -> str | None:
        """The failure ``subject`` inherits for this check from the library it builds on, if any."""
        test_id = contract_test_id(subject, self.check, self.case, self.device, self.dtype_name)
        return inherited_failure(subject, self.check.relies_on, test_id)


def _param(subject: Subject, bound: BoundCheck) -> Any:
    reason = bound.expected_failure(subject)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(subject, bound, id=f"{subject.name}-{bound.id}", marks=marks)


def parametrize_with_checks(
    candidates: Iterable[type | Callable[[], Any]],
    devices: str | None = None,
    dtypes: str | None = None,
) -> pytest.MarkDecorator:
    """Parametrize a test ``(subject, check)`` over every generic check of every candidate.

    ``candidates`` are pruner classes (built with no arguments) or factories returning a configured
    instance. ``devices`` / ``dtypes`` are comma-separated like ``--device`` / ``--dtype`` (default:
    every device this machine has, and every dtype each supports: float32, float16 and bfloat16 on a
    CPU); naming a device it lacks is an error. Use::

        @parametrize_with_checks([MySparsifier, lambda: MySparsifier(sparsity_level=0.8)])
        def test_prunebench(subject, check):
            check(subject)
    """
    subjects = [subject_of(candidate, index) for index, candidate in enumerate(candidates)]
    if not subjects:
        raise ValueError("parametrize_with_checks needs at least one class or factory, got none")
    params = [
        _param(subject, BoundCheck(check, case, device, dtype))
        for subject in subjects
        for check, case in check_cases(subject.kind)
        for device in parse_devices(devices)
        for dtype in (parse_dtypes(dtypes) if dtypes is not None else supported_dtypes(device))
    ]
    return pytest.mark.parametrize(("subject", "check"), params)
