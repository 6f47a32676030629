"""How the plugin parametrizes and selects tests: backend x subject pairs, and what a ``check`` run keeps."""

from __future__ import annotations

from typing import Any

import pytest

from .backend import Backend
from .oneshot import ONESHOT_KIND, oneshot_pruners
from .subjects import subjects_of_backend


def subject_params(kind: str, backends: list[Backend]) -> list[Any]:
    """(backend, subject) pairs for a test of the generic checks: the ``--check`` class, or each rule class
    of the test's kind a backend provides (a backend with none: one pair with no subject, *unsupported*)."""
    if kind == ONESHOT_KIND:
        return oneshot_params(backends)
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


def oneshot_params(backends: list[Backend]) -> list[Any]:
    """(backend, ``OneShotPruner``) pairs, one per one-shot pruner a backend provides (``harness.oneshot``);
    a backend with none (and a ``prunebench check`` class): one pair with no pruner, *unsupported*."""
    params = []
    for backend in backends:
        pruners = oneshot_pruners(backend) if backend.subject is None else []
        params += [pytest.param(backend, pruner, id=f"{backend.name}-{pruner.name}") for pruner in pruners]
        if not pruners:
            params.append(pytest.param(backend, None, id=f"{backend.name}-none"))
    return params


def applies_to_check(item: pytest.Item, backend: Backend) -> bool:
    """In a ``prunebench check`` run: the generic checks, and the tests of the rule named by ``--like``."""
    marker = item.get_closest_marker("subjects")
    if marker is not None:
        return marker.args[0] == backend.subject.kind
    return bool(required_names(item)) and not missing_names(item, backend)


def required_names(item: pytest.Item) -> list[str]:
    return [name for marker in item.iter_markers("requires") for name in marker.args]


def missing_names(item: pytest.Item, backend: Backend) -> list[str]:
    """The names the test needs (``@pytest.mark.requires``) that the backend does not provide."""
    return [name for name in required_names(item) if not backend.provides(name)]


def keep_only_expected_failures(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--only-expected-failures``: deselect every test without a declared expected failure, so that a
    maintainer (and ``tests/test_shipped_xfails.py``) can check, cheaply, that each entry still fails."""
    deselected = [item for item in items if item.get_closest_marker("xfail") is None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker("xfail") is not None]
