"""A backend whose ``version`` is a submodule (``from . import version``), not a str."""

from __future__ import annotations

from .. import _reference
from .._reference import *  # noqa: F403
from . import version  # noqa: F401 - the accident: the module shadows any version string

__all__ = _reference.__all__
name = "version-module"
