"""BaseSparsifier.convert swaps every module whose type is in the mapping, sparsified or not."""

from __future__ import annotations

from torch import nn

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import with_globals

name = "broken-convert_swaps_all"


def _always_carries(module: nn.Module, parametrization_type: type[nn.Module]) -> bool:
    """BUG: the "is this module sparsified?" test is missing, so the mapping alone decides."""
    return True


class BaseSparsifier(reference_impl.BaseSparsifier):
    convert = with_globals(reference_impl.BaseSparsifier.convert, _carries=_always_carries)
