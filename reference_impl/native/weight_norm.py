"""The WeightNorm step's mask by the compiled kernel ``weight_norm_step.cpp``, where it applies.

``block_masks.weight_norm_mask`` is the readable version and the oracle: the kernel computes the same rule
bit for bit (same float32 scores and block means, ties at either cut going to the lowest position), in two
passes over the weight instead of ~10 torch calls per row chunk, each a parallel region of its own (see the
C++ file's header). ``tests/test_native_weight_norm.py`` compares the two on many shapes, blocks, levels,
dtypes and tied, NaN and inf weights.

It applies on CPU (a device ``block_masks`` makes masks for chunk by chunk) to a contiguous 2-D weight of
float32, float16 or bfloat16 whose sides are whole numbers of blocks of at most 64 elements, with a
contiguous mask of the same dtype, scored by a built-in norm (1 or 2) through our ``FakeSparsity`` alone
(the caller decides that). Everything else, and the trivial levels (nothing or everything masked, a fill),
goes to the readable version; so does any input while torch flushes denormals (the kernel declines).
"""

from __future__ import annotations

import ctypes
import warnings
from pathlib import Path

import torch

from .. import block_masks
from .build import KernelSource, NativeKernelWarning, kernel_function
from .threads import threads_for

KERNEL = KernelSource(
    name="weight_norm_step",
    path=Path(__file__).with_name("weight_norm_step.cpp"),
    abi_symbol="weight_norm_mask_abi_version",
    abi_version=2,
)
DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
MAX_BLOCK_ELEMENTS = 64
CHUNK_ELEMENTS = 1 << 16
"""Elements per chunk that a thread claims: small enough that a descheduled thread holds back little, large
enough that claiming costs nothing."""
SAMPLE_SIZE = 1 << 16
"""Block means sampled to bracket the cut (as ``block_masks.SAMPLE_SIZE``)."""
OK, BAD_ARGUMENT, FAILED, DECLINED = 0, 1, 2, 3
_ARGUMENTS = (
    [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    + [ctypes.c_int64] * 6
    + [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
)


def applies(mask: torch.Tensor, weight: torch.Tensor, block_shape: tuple[int, int]) -> bool:
    """Whether the kernel takes this mask and weight (both 2-D) and block shape; the level is checked later."""
    rows, cols = weight.shape
    return (
        mask.device.type == "cpu"
        and mask.device.type in block_masks.CHUNKED_DEVICES
        and weight.device == mask.device
        and weight.dtype in DTYPE_CODES
        and mask.dtype == weight.dtype
        and mask.shape == weight.shape
        and mask.is_contiguous()
        and weight.is_contiguous()
        and rows > 0
        and cols > 0
        and rows % block_shape[0] == 0
        and cols % block_shape[1] == 0
        and block_shape[0] * block_shape[1] <= MAX_BLOCK_ELEMENTS
    )


def native_weight_norm_mask(
    mask: torch.Tensor,
    weight: torch.Tensor,
    norm: int,
    sparsity_level: float,
    block_shape: tuple[int, int],
    zeros_per_block: int,
    *,
    threads: int | None = None,
) -> bool:
    """Write ``block_masks.weight_norm_mask``'s mask of ``weight`` scored by ``norm`` into ``mask``, if the kernel
    applies and is available; False (``mask`` untouched) when the readable version must do it.

    ``mask`` is also what the scores are masked by (an element whose mask entry is 0 scores 0), as in
    the sparsifier's fused scoring. ``threads``: how many threads the kernel uses (default ``threads_for``).
    """
    if norm not in (1, 2) or not applies(mask, weight, block_shape):
        return False
    rows, cols = weight.shape
    block_size = block_shape[0] * block_shape[1]
    blocks = (rows // block_shape[0]) * (cols // block_shape[1])
    count = block_masks.blocks_to_select(sparsity_level, blocks)
    if count == 0 or zeros_per_block == 0 or (count == blocks and zeros_per_block >= block_size):
        return False  # a fill: the readable version does it in one call
    kernel = kernel_function(KERNEL, "weight_norm_mask", _ARGUMENTS)
    if kernel is None:
        return False
    # the kernel's one weight-sized buffer (a byte per block), from torch's allocator: memory measurements see it
    codes = torch.empty(blocks if count < blocks else 0, dtype=torch.uint8, device=weight.device)
    status = kernel(
        weight.data_ptr(),
        mask.data_ptr(),
        codes.data_ptr() if codes.numel() else None,
        DTYPE_CODES[weight.dtype],
        rows,
        cols,
        block_shape[0],
        block_shape[1],
        zeros_per_block,
        count,
        norm,
        threads or threads_for(weight.numel()),
        CHUNK_ELEMENTS,
        SAMPLE_SIZE,
    )
    if status == BAD_ARGUMENT:
        raise AssertionError(f"the kernel refused arguments applies() accepted: {tuple(weight.shape)}, {block_shape}")
    if status == FAILED:  # its buffers are allocated before it writes: the mask is as it was
        warnings.warn(
            "the compiled WeightNorm kernel failed; the readable version runs", NativeKernelWarning, stacklevel=3
        )
        return False
    return status == OK
