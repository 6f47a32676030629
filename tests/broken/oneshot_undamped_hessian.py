"""SparseGPTSparsifier inverts the Hessian without dampening and without checking the inversion."""

from __future__ import annotations

import torch

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._base import with_globals

name = "broken-oneshot_undamped_hessian"


def _undamped_factor(hessian: torch.Tensor, dampening: float, where: str) -> torch.Tensor:
    inverse, _ = torch.linalg.inv_ex(hessian)  # BUG: no dampening, and a failed inversion goes on
    upper, _ = torch.linalg.cholesky_ex(inverse, upper=True)
    return upper


class SparseGPTSparsifier(reference_impl.SparseGPTSparsifier):
    update_mask = with_globals(reference_impl.SparseGPTSparsifier.update_mask, inverse_hessian_factor=_undamped_factor)
