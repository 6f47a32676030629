"""``parametrize_with_checks``: the generic checks as pytest parameters of a user's own test.

Modelled on scikit-learn's ``parametrize_with_checks``: every (class, check, device, dtype) becomes
one test with a readable id, ``check(subject)`` runs it, and a check that cannot apply is skipped
with a reason that starts with ``unsupported:``, never passed.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from prunebench.harness.matrix import DTYPES, parse_devices, parse_dtypes
from prunebench.harness.subjects import Subject, subject_of
from prunebench.harness.xfails import builtin_xfails_file, load_xfails, match_xfail
from prunebench.suites.contract.registry import Check, checks_for, contract_test_id


@dataclass(frozen=True)
class BoundCheck:
    """One generic check on one device and dtype; call it with the subject it was generated for."""

    check: Check
    device: str
    dtype_name: str

    @property
    def id(self) -> str:
        return f"{self.check.name}-{self.device}-{self.dtype_name}"

    def __call__(self, subject: Subject) -> None:
        """Run the check, seeded from its id; ``Unsupported`` propagates (the plugin reports it as unsupported)."""
        seed = zlib.crc32(f"{subject.name}-{self.id}".encode())
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            self.check(subject, self.device, DTYPES[self.dtype_name])
        except AssertionError:
            inherited = self._inherited_failure(subject)
            if inherited is None:
                raise
            pytest.xfail(inherited)

    def _inherited_failure(self, subject: Subject) -> str | None:
        """The declared failure of the library ``subject`` inherits this check's methods from, if any."""
        library = subject.inherited_from(self.check.relies_on)
        path = builtin_xfails_file(library) if library else None
        if path is None:
            return None
        test_id = contract_test_id(subject, self.check, self.device, self.dtype_name)
        entry = match_xfail(test_id, load_xfails(path))
        if entry is None:
            return None
        return f"inherited from {library} ({', '.join(self.check.relies_on)} not overridden): {entry.reason}"


def parametrize_with_checks(
    candidates: Iterable[type | Callable[[], Any]],
    devices: str | None = None,
    dtypes: str | None = "float32",
) -> pytest.MarkDecorator:
    """Parametrize a test ``(subject, check)`` over every generic check of every candidate.

    ``candidates`` are pruner classes (built with no arguments) or factories returning a configured
    instance. ``devices`` / ``dtypes`` are comma-separated like ``--device`` / ``--dtype`` (default:
    every device this machine has, and float32); naming a device it lacks is an error. Use::

        @parametrize_with_checks([MySparsifier, lambda: MySparsifier(sparsity_level=0.8)])
        def test_prunebench(subject, check):
            check(subject)
    """
    subjects = [subject_of(candidate, index) for index, candidate in enumerate(candidates)]
    if not subjects:
        raise ValueError("parametrize_with_checks needs at least one class or factory, got none")
    params = [
        pytest.param(subject, BoundCheck(check, device, dtype), id=f"{subject.name}-{check.name}-{device}-{dtype}")
        for subject in subjects
        for check in checks_for(subject.kind)
        for device in parse_devices(devices)
        for dtype in parse_dtypes(dtypes)
    ]
    return pytest.mark.parametrize(("subject", "check"), params)
