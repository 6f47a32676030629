"""The device and dtype matrix: parsing ``--device`` / ``--dtype`` and knowing what is available."""

from __future__ import annotations

import torch

from .errors import UsageError
from .names import DEFAULT_DTYPES, DTYPE_NAMES, KNOWN_DEVICES

DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in DTYPE_NAMES}


def supported_dtypes(device: str) -> list[str]:
    """Every dtype of the matrix that ``device`` computes in (on a CPU and on CUDA GPUs: all three).

    What ``prunebench check`` and ``parametrize_with_checks`` test by default: a pruner author's
    half-precision bugs (a float32 mask in a bfloat16 model) must show without asking for them.
    """
    if device == "cuda" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        return [name for name in DTYPES if name != "bfloat16"]
    return list(DTYPES)


def available_devices() -> list[str]:
    """Devices this machine can run tests on right now."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def device_unavailable_reason(device: str) -> str | None:
    """Why ``device`` cannot run here, or None when it can."""
    if device == "cuda" and not torch.cuda.is_available():
        if torch.version.cuda is None:
            return f"cuda: torch {torch.__version__} was built without CUDA"
        return f"cuda: torch {torch.__version__} has CUDA {torch.version.cuda}, but no CUDA GPU is visible"
    return None


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_devices(value: str | None) -> list[str]:
    """``"cpu,cuda"`` -> ``["cpu", "cuda"]``; None means every available device.

    Naming a device this machine cannot run is a usage error, not a run of skips: a run asked for
    CUDA that tested only the CPU must not look green.
    """
    if value is None:
        return available_devices()
    devices = _split(value)
    unknown = [device for device in devices if device not in KNOWN_DEVICES]
    if unknown or not devices:
        raise UsageError(f"--device {value!r}: unknown {unknown or 'empty list'}; choose from {list(KNOWN_DEVICES)}")
    unavailable = [reason for reason in map(device_unavailable_reason, devices) if reason]
    if unavailable:
        raise UsageError(f"--device {value!r} asks for a device this machine cannot run: {'; '.join(unavailable)}")
    return list(dict.fromkeys(devices))


def parse_dtypes(value: str | None, every_dtype_of: list[str] | None = None) -> list[str]:
    """``"float32,bfloat16"`` -> the same names, validated; None means float32 only, or, given devices
    (``every_dtype_of``: a check of one class), every dtype all of them compute in."""
    if value is None:
        if every_dtype_of is not None:
            return [name for name in DTYPES if all(name in supported_dtypes(d) for d in every_dtype_of)]
        return list(DEFAULT_DTYPES)
    dtypes = _split(value)
    unknown = [dtype for dtype in dtypes if dtype not in DTYPES]
    if unknown or not dtypes:
        raise UsageError(f"--dtype {value!r}: unknown {unknown or 'empty list'}; choose from {list(DTYPES)}")
    return list(dict.fromkeys(dtypes))
