"""``NearlyDiagonalSparsifier``: keep a band of ``nearliness`` diagonals around the main one."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .base_sparsifier import BaseSparsifier, _attached_mask


def check_nearliness(nearliness: object, shape: tuple[int, ...] | None = None) -> int:
    """An odd int (or <= 0, meaning an all-zero mask) whose half-width fits inside ``shape``."""
    if isinstance(nearliness, bool) or not isinstance(nearliness, numbers.Integral):
        raise TypeError(f"nearliness must be an odd int, got {nearliness!r}")
    if nearliness <= 0:
        return int(nearliness)
    if nearliness % 2 == 0:
        raise ValueError(f"nearliness must be odd (1, 3, 5, ...), got {nearliness}")
    if shape is not None and nearliness // 2 >= min(shape):
        raise ValueError(
            f"nearliness={nearliness} reaches {nearliness // 2} diagonals from the main one, "
            f"which does not fit a tensor of shape {tuple(shape)}"
        )
    return int(nearliness)


def band_mask(shape: tuple[int, int], nearliness: int, device: torch.device) -> torch.Tensor:
    """Bool mask true where ``|row - col| <= nearliness // 2``; all false for nearliness <= 0."""
    if nearliness <= 0:
        return torch.zeros(shape, dtype=torch.bool, device=device)
    rows = torch.arange(shape[0], device=device)[:, None]
    cols = torch.arange(shape[1], device=device)[None, :]
    return (rows - cols).abs() <= nearliness // 2


class NearlyDiagonalSparsifier(BaseSparsifier):
    """Masks a 2-D weight to its ``nearliness`` central diagonals (1 keeps the main diagonal only).

    The mask depends only on the shape, never on the values, so it is the same at every step.
    """

    def __init__(self, nearliness: int = 1) -> None:
        check_nearliness(nearliness)
        super().__init__(defaults={"nearliness": nearliness})

    def validate_group(self, group: Mapping[str, Any]) -> None:
        shape = tuple(getattr(group["module"], group["tensor_name"]).shape)
        if len(shape) != 2:
            raise ValueError(f"NearlyDiagonalSparsifier needs a 2-D tensor; {group['tensor_fqn']!r} has shape {shape}")
        check_nearliness(group["nearliness"], shape)

    def update_mask(  # type: ignore[override]
        self, module: nn.Module, tensor_name: str, nearliness: int, **kwargs: Any
    ) -> None:
        mask = _attached_mask(module, tensor_name)
        nearliness = check_nearliness(nearliness, tuple(mask.shape))
        mask.copy_(band_mask(tuple(mask.shape), nearliness, mask.device))
