"""Mask parametrizations: the element-wise ``FakeSparsity`` and the row-wise ``FakeStructuredSparsity``.

As in ``torch.ao.pruning``, element-wise masks are tensors of the weight's own dtype holding 0 and 1
(so ``mask.mean()`` is the density), and row masks are ``bool``. Either kind is applied with
``torch.where(mask != 0, ...)`` rather than torch's multiply: a masked-out ``inf`` or ``nan`` weight
becomes an exact zero instead of ``nan`` (``0 * inf``), and a mask of another dtype than the weight
(a bool one, say) cannot promote the parametrized weight out of the layer's dtype.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from .native.mask_in_place import native_mask_in_place

IN_PLACE_CHUNK_ELEMENTS = 1 << 20
"""Mask elements turned into a verdict at a time when the readable version applies a non-bool mask in place,
so baking a mask needs no weight-sized temporary (a 1 MiB bool verdict per chunk). Few chunks, so few
operations: on a loaded machine each parallel operation can wait for a descheduled thread."""


def _apply_mask(mask: torch.Tensor, weight: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Zero ``weight`` where ``mask`` is false (bool) or zero (any other dtype), keeping its dtype.

    ``torch.where``, not a multiply: a masked NaN or inf weight becomes an exact 0 (``0 * nan`` is NaN).
    ``out=weight`` masks in place.
    """
    keep = mask.bool()  # non-zero (NaN included) keeps; a bool mask as is; ~4x faster than `mask != 0` on CPU
    zero = torch.zeros((), dtype=weight.dtype, device=weight.device)
    if out is None:
        return torch.where(keep, weight, zero)
    return torch.where(keep, weight, zero, out=out)


def _apply_mask_in_place(mask: torch.Tensor, weight: torch.Tensor) -> None:
    """``_apply_mask(mask, weight, out=weight)`` for a mask of ``weight``'s shape, with no full-size temporary.

    On CPU the compiled twin (``native.mask_in_place``) does it in one pass where it applies (a contiguous
    weight and mask of one floating dtype); otherwise ``where`` runs by row chunks, whose verdicts
    (``mask.bool()``) are the only temporaries. The kernel matters on a busy machine: each chunk's operation is
    a parallel region of its own, and with every core taken each region waits for a descheduled thread.
    Either way the result is ``forward``'s bit for bit (a masked weight becomes +0, never ``-x * 0``'s -0),
    so squashing leaves exactly the values the parametrized layer computed with. Other devices use one
    ``where`` (one kernel, no host read).
    """
    if mask.dtype == torch.bool or weight.dim() == 0 or weight.device.type != "cpu":
        _apply_mask(mask, weight, out=weight)  # on a GPU one kernel, no host read; on meta nothing to zero
        return
    if native_mask_in_place(mask, weight):  # the same rule in one pass, no parallel region on small weights
        return
    # at most half of the rows, so that even a small weight gets no full-size temporary
    rows_per_chunk = max(1, min(IN_PLACE_CHUNK_ELEMENTS // max(1, weight[0].numel()), weight.shape[0] // 2))
    for start in range(0, weight.shape[0], rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        _apply_mask(mask[rows], weight[rows], out=weight[rows])


def bake_mask(module: nn.Module, tensor_name: str, rows_needed: torch.Tensor | None = None) -> None:
    """Remove the parametrizations of ``module.<tensor_name>``, leaving the parametrized values in the tensor.

    When one of our mask parametrizations is the tensor's only one, it masks the original
    ``Parameter`` in place (``mask_in_place``), which then goes back on the module: no full-size
    temporary (on a 4096x4096 weight a fresh masked copy costs ~60 ms here, most of it first-touch
    page faults, in place ~35 ms), and the module ends up with the very ``Parameter`` object it had
    before ``prepare``, so an optimizer holding it keeps working. Any other stack of parametrizations
    is evaluated as usual. ``squash_mask`` and structured ``prune()`` both bake through here.

    ``rows_needed`` (bool per row, only for a lone row mask) says which rows the caller keeps:
    ``prune()`` removes most masked rows right after baking, so zeroing them would be wasted work;
    only masked rows it keeps (a carrier channel, a conv's last filter) are zeroed.
    """
    parametrizations = module.parametrizations[tensor_name]
    only = parametrizations[0] if len(parametrizations) == 1 else None
    original = getattr(parametrizations, "original", None)
    if rows_needed is not None and type(only) is not FakeStructuredSparsity:
        raise ValueError(
            f"bake_mask(rows_needed=...) limits a row mask's zeroing to some rows, but {tensor_name!r} of "
            f"{type(module).__name__} is parametrized by {[type(p).__name__ for p in parametrizations]}; "
            "expected one FakeStructuredSparsity"
        )
    if type(only) in (FakeSparsity, FakeStructuredSparsity) and isinstance(original, torch.Tensor):
        with torch.no_grad():
            if rows_needed is None:
                only.mask_in_place(original)
            else:
                only.mask_in_place(original, rows_needed)
        parametrize.remove_parametrizations(module, tensor_name, leave_parametrized=False)
    else:
        parametrize.remove_parametrizations(module, tensor_name, leave_parametrized=True)


class FakeSparsity(nn.Module):
    """Element-wise mask parametrization: the parametrized tensor is ``weight`` with masked entries zeroed.

    The ``mask`` has the tensor's shape and, as sparsifiers create it, its dtype, holding 1 (kept)
    and 0 (zeroed); any non-zero value keeps the weight unchanged. The buffer is updated in place by
    sparsifiers, never replaced, so references held in a sparsifier's ``state`` stay valid. Masks are
    owned by the sparsifier's state, which is why this module contributes nothing to the model's
    ``state_dict``.
    """

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask, persistent=False)  # saved by the sparsifier; strict loads need no key

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        self._check_fits(weight)
        return _apply_mask(self.mask, weight)

    def mask_in_place(self, weight: torch.Tensor) -> None:
        """Zero the masked entries of ``weight`` itself (what ``forward`` returns, without a copy)."""
        self._check_fits(weight)
        _apply_mask_in_place(self.mask, weight)

    def _check_fits(self, weight: torch.Tensor) -> None:
        if self.mask.shape != weight.shape:
            raise ValueError(
                f"FakeSparsity mask has shape {tuple(self.mask.shape)} but the tensor it masks has "
                f"shape {tuple(weight.shape)}; they must be equal"
            )

    def state_dict(self, *args, **kwargs):
        """Masks are saved by the sparsifier, not by the model they parametrize."""
        return {}


class FakeStructuredSparsity(nn.Module):
    """Row-wise mask parametrization: ``mask[i]`` keeps or removes the whole slice ``weight[i]``.

    Used by structured pruners, whose masks select output rows (Linear) or filters (Conv2d) that
    ``prune()`` later removes physically.
    """

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask, persistent=False)  # saved by the sparsifier; strict loads need no key

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        self._check_fits(weight)
        row_shape = (-1,) + (1,) * (weight.dim() - 1)
        return _apply_mask(self.mask.reshape(row_shape), weight)

    def mask_in_place(self, weight: torch.Tensor, rows_needed: torch.Tensor | None = None) -> None:
        """Zero the masked rows of ``weight`` itself, touching only those rows, and of them only the
        ``rows_needed`` ones when given (``prune()`` drops the others next). A meta tensor has no values."""
        self._check_fits(weight)
        if weight.is_meta:
            return
        masked = self.mask == 0
        if rows_needed is not None:
            if rows_needed.shape != masked.shape:
                raise ValueError(
                    f"rows_needed has shape {tuple(rows_needed.shape)}; expected one bool per row, "
                    f"shape {tuple(masked.shape)}"
                )
            masked &= rows_needed
        weight.index_fill_(0, masked.nonzero().squeeze(1), 0)

    def _check_fits(self, weight: torch.Tensor) -> None:
        if self.mask.dim() != 1 or self.mask.shape[0] != weight.shape[0]:
            raise ValueError(
                f"FakeStructuredSparsity mask has shape {tuple(self.mask.shape)}; expected one entry "
                f"per row of the tensor it masks, shape ({weight.shape[0]},)"
            )

    def state_dict(self, *args, **kwargs):
        """Masks are saved by the pruner, not by the model they parametrize."""
        return {}
