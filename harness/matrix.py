"""The device and dtype matrix: parsing ``--device`` / ``--dtype`` and knowing what is available."""

from __future__ import annotations

import torch

from .errors import UsageError

KNOWN_DEVICES: tuple[str, ...] = ("cpu", "cuda")
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
DEFAULT_DTYPES: tuple[str, ...] = ("float32",)


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


def parse_dtypes(value: str | None) -> list[str]:
    """``"float32,bfloat16"`` -> the same names, validated; None means float32 only."""
    if value is None:
        return list(DEFAULT_DTYPES)
    dtypes = _split(value)
    unknown = [dtype for dtype in dtypes if dtype not in DTYPES]
    if unknown or not dtypes:
        raise UsageError(f"--dtype {value!r}: unknown {unknown or 'empty list'}; choose from {list(DTYPES)}")
    return list(dict.fromkeys(dtypes))
