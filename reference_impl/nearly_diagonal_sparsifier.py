"""``NearlyDiagonalSparsifier``: keep a band of ``nearliness`` diagonals around the main one."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .base_sparsifier import BaseSparsifier, _attached_mask


def check_nearliness_type(nearliness: object) -> int:
    """``nearliness`` must be an int (bools excluded); its value is checked by ``check_nearliness``."""
    if isinstance(nearliness, bool) or not isinstance(nearliness, numbers.Integral):
        raise TypeError(f"nearliness must be an odd int, got {nearliness!r}")
    return int(nearliness)


def check_nearliness(nearliness: object, shape: tuple[int, ...]) -> int:
    """An odd int (or <= 0, meaning an all-zero mask) whose half-width fits inside ``shape``."""
    nearliness = check_nearliness_type(nearliness)
    if nearliness <= 0:
        return nearliness
    if nearliness % 2 == 0:
        raise ValueError(f"nearliness must be odd (1, 3, 5, ...) or <= 0, got {nearliness}")
    if nearliness // 2 >= min(shape):
        raise ValueError(
            f"nearliness={nearliness} reaches {nearliness // 2} diagonals from the main one, "
            f"which does not fit a tensor of shape {tuple(shape)}"
        )
    return nearliness


BAND_CHUNK_ROWS = 256
"""Rows written per step of ``write_band`` when the band is wide: their band columns fit in cache."""

DIAGONAL_FILLS_MAX = 65
"""Up to this ``nearliness``, the band is written one diagonal at a time (a strided view per diagonal,
one small fill each); wider bands by row chunks, whose per-chunk cost no longer grows with the width."""


def band_mask(shape: tuple[int, int], nearliness: int, device: torch.device) -> torch.Tensor:
    """Bool mask true where ``|row - col| <= nearliness // 2``; all false for nearliness <= 0."""
    mask = torch.empty(shape, dtype=torch.bool, device=device)
    write_band(mask, nearliness)
    return mask


def write_band(mask: torch.Tensor, nearliness: int) -> None:
    """Overwrite the 2-D ``mask`` (any dtype) in place with ``band_mask(mask.shape, nearliness)``: 1 or
    True on the band, 0 or False elsewhere.

    One fill clears it; then only the band is written, so the work past that fill is proportional to
    the band, not to the whole matrix, and no matrix-sized temporary is made (torch fills the band row
    by row from Python instead): a narrow band diagonal by diagonal, a wide one by chunks of rows that
    compare ``|row - col|`` over the columns their band can reach.
    """
    mask.fill_(0)
    if nearliness <= 0:
        return
    half = nearliness // 2
    if nearliness <= DIAGONAL_FILLS_MAX:
        for offset in range(-min(half, mask.shape[0] - 1), min(half, mask.shape[1] - 1) + 1):
            mask.diagonal(offset).fill_(1)
        return
    rows, cols = mask.shape
    for start in range(0, min(rows, cols + half), BAND_CHUNK_ROWS):
        stop = min(rows, start + BAND_CHUNK_ROWS)
        first, last = max(0, start - half), min(cols, stop + half)
        row_ids = torch.arange(start, stop, dtype=torch.int32, device=mask.device)[:, None]
        col_ids = torch.arange(first, last, dtype=torch.int32, device=mask.device)
        torch.le((row_ids - col_ids).abs_(), half, out=mask[start:stop, first:last])


class NearlyDiagonalSparsifier(BaseSparsifier):
    """Masks a 2-D weight to its ``nearliness`` central diagonals (1 keeps the main diagonal only).

    The mask depends only on the shape, never on the values (NaN and inf weights included), so it
    is the same at every step. ``nearliness`` is an int: odd and positive, with ``nearliness // 2``
    smaller than both sides of the weight, or ``<= 0`` for an all-zero mask (as torch does).

    As in torch, the value of ``nearliness`` is checked where it is used: an even or too wide one is
    accepted by the constructor and ``prepare`` and makes ``step`` raise ``ValueError``, leaving that
    tensor's mask as it was. A ``nearliness`` that is not an int (a ``TypeError``) and a tensor that
    is not 2-D (a ``ValueError``) are rejected up front.
    """

    def __init__(self, nearliness: int = 1) -> None:
        check_nearliness_type(nearliness)
        super().__init__(defaults={"nearliness": nearliness})

    def validate_group(self, group: Mapping[str, Any]) -> None:
        shape = tuple(getattr(group["module"], group["tensor_name"]).shape)
        if len(shape) != 2:
            raise ValueError(f"NearlyDiagonalSparsifier needs a 2-D tensor; {group['tensor_fqn']!r} has shape {shape}")
        check_nearliness_type(group["nearliness"])

    def update_mask(  # type: ignore[override]
        self, module: nn.Module, tensor_name: str, nearliness: int, **kwargs: Any
    ) -> None:
        mask = _attached_mask(module, tensor_name)
        write_band(mask, check_nearliness(nearliness, tuple(mask.shape)))  # in place: no matrix-sized temporary
