"""A mask applied to its weight in place by the compiled kernel ``mask_in_place.cpp``, where it applies.

``fake_sparsity._apply_mask(mask, weight, out=weight)`` is the readable version and the oracle: the kernel
computes ``torch.where(mask.bool(), weight, 0)`` bit for bit, as an integer test of the mask's bits, in one
pass with no temporary (see the C++ file's header for why baking needs it on a busy machine).
``tests/test_native_mask_in_place.py`` compares the two on every dtype, shape, signed zero, NaN and inf.

It applies on CPU to a weight and a mask of the same shape and the same floating dtype of 2, 4 or 8 bytes,
both contiguous and not overlapping. Everything else goes to the readable version, and so does any input
while torch flushes denormals (the kernel declines).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from .build import KernelSource, kernel_function
from .threads import threads_for

KERNEL = KernelSource(
    name="mask_in_place",
    path=Path(__file__).with_name("mask_in_place.cpp"),
    abi_symbol="mask_in_place_abi_version",
    abi_version=1,
)
CHUNK_ELEMENTS = 1 << 16
"""Elements per chunk that a thread claims: small enough that a descheduled thread holds back little, large
enough that claiming costs nothing."""
OK, BAD_ARGUMENT, DECLINED = 0, 1, 3
_ARGUMENTS = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int, ctypes.c_int64]


def applies(mask: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether the kernel takes this mask and weight."""
    return (
        weight.device.type == "cpu"
        and mask.device == weight.device
        and weight.dtype.is_floating_point
        and mask.dtype == weight.dtype
        and weight.element_size() in (2, 4, 8)
        and mask.shape == weight.shape
        and mask.is_contiguous()
        and weight.is_contiguous()
        and weight.numel() > 0
        and not _overlap(mask, weight)
    )


def _overlap(first: torch.Tensor, second: torch.Tensor) -> bool:
    """Whether the two tensors' bytes share memory: the kernel reads one while it writes the other."""
    first_start, second_start = first.data_ptr(), second.data_ptr()
    first_end = first_start + first.numel() * first.element_size()
    second_end = second_start + second.numel() * second.element_size()
    return first_start < second_end and second_start < first_end


def native_mask_in_place(mask: torch.Tensor, weight: torch.Tensor, *, threads: int | None = None) -> bool:
    """Zero the entries of ``weight`` whose ``mask`` entry is zero, if the kernel applies and is available;
    False (``weight`` untouched) when the readable version must do it.

    ``threads``: how many threads the kernel uses (default ``threads_for``: one for a weight under 4M elements).
    """
    if not applies(mask, weight):
        return False
    kernel = kernel_function(KERNEL, "mask_in_place", _ARGUMENTS)
    if kernel is None:
        return False
    status = kernel(
        weight.data_ptr(),
        mask.data_ptr(),
        weight.element_size(),
        weight.numel(),
        threads or threads_for(weight.numel()),
        CHUNK_ELEMENTS,
    )
    if status == BAD_ARGUMENT:
        raise AssertionError(f"the kernel refused arguments applies() accepted: {tuple(weight.shape)}, {weight.dtype}")
    return status == OK
