"""What installing prunebench puts on the import path: everything under ``prunebench``, nothing generic."""

from __future__ import annotations

from pathlib import Path

import tomllib
from prunebench.harness.backend import resolve_backend

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_installed_under_prunebench():
    """A new subpackage missing from pyproject's list would be left out of the wheel without an error."""
    setuptools = _pyproject()["tool"]["setuptools"]
    on_disk = set()
    for prefix, folder in setuptools["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            on_disk.add(".".join([prefix, *init.parent.relative_to(ROOT / folder).parts]))
    assert on_disk, "no package folders found"
    assert sorted(on_disk) == sorted(setuptools["packages"])
    assert all(name == "prunebench" or name.startswith("prunebench.") for name in setuptools["packages"])


def test_entry_points_name_the_installed_modules():
    project = _pyproject()["project"]
    assert project["scripts"]["prunebench"].startswith("prunebench.harness.")
    assert project["entry-points"]["pytest11"]["prunebench"].startswith("prunebench.harness.")


def test_backends_stay_addressable_by_their_old_module_paths():
    """``--backend=reference_impl`` (the path before packaging) names the installed module, not a second copy."""
    from prunebench import reference_impl

    assert resolve_backend("reference_impl").namespace is reference_impl
    assert resolve_backend("prunebench.harness.backends.torch_ao").source == "prunebench.harness.backends.torch_ao"
