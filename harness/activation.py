"""Whether a pytest run uses prunebench at all: the plugin stays out of every run that does not.

Installing prunebench registers its plugin with every pytest in the environment (the ``pytest11`` entry
point). A run that neither names a backend or a class to check, nor collects prunebench's suites, must
run exactly as without it: no worker processes, no time limits, no backend imported, no report. Tests
written with ``parametrize_with_checks`` need none of that either: the checks seed themselves, and the
one hook every run keeps (turning ``Unsupported`` into an *unsupported* skip) acts only on prunebench's
own exceptions.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .names import BACKEND_ENV

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"
SUITES_PACKAGE = "prunebench.suites"
REQUESTING_OPTIONS = (
    "prunebench_backend",
    "prunebench_check",
    "prunebench_report_dir",
    "prunebench_results_json",
    "prunebench_device",
    "prunebench_dtype",
    "prunebench_xfails",
    "prunebench_like",
    "prunebench_check_kwargs",
    "prunebench_only_expected_failures",
    "prunebench_record_memory",
    "prunebench_second_pass",
    "prunebench_replay",
)
"""Options that only make sense for a prunebench run: giving one asks for it."""
_ACTIVE = pytest.StashKey[bool]()


def is_active(config: pytest.Config) -> bool:
    """Whether this run uses prunebench (decided once, from the command line, the environment and the paths)."""
    if _ACTIVE not in config.stash:
        config.stash[_ACTIVE] = _requested(config)
    return config.stash[_ACTIVE]


def _requested(config: pytest.Config) -> bool:
    option = config.option
    if any(getattr(option, name, None) for name in REQUESTING_OPTIONS):
        return True
    if os.environ.get(BACKEND_ENV):
        return True
    return any(_names_the_suites(str(arg), bool(getattr(option, "pyargs", False))) for arg in config.args)


def _names_the_suites(arg: str, pyargs: bool) -> bool:
    """A path (or ``--pyargs`` module) at or inside prunebench's suites, or a folder that holds them."""
    target = arg.split("::", 1)[0]
    if pyargs and (target == SUITES_PACKAGE or target.startswith(f"{SUITES_PACKAGE}.")):
        return True
    try:
        path = Path(target).resolve()
    except (OSError, ValueError):
        return False
    if path == SUITES_DIR or SUITES_DIR in path.parents:
        return True
    if path not in SUITES_DIR.parents:
        return False
    # a folder above the suites collects them, unless they lie in an installed environment pytest skips
    return "site-packages" not in SUITES_DIR.relative_to(path).parts
