"""Building and loading a compiled kernel: cached on disk, bounded in time, optional.

A kernel is one C++ source with a C ABI (``extern "C"``), compiled by the system's C++ compiler into a
shared library and loaded with ``ctypes``. Why not ``torch.utils.cpp_extension``: its headers (pybind11 and
ATen) are most of such a build's time on a 2-core machine, and the result is tied to one torch build; a
plain C ABI over raw pointers needs neither and serves every torch. The library is built for this CPU
(``-march=native``), so the cache key holds the source, the flags, the compiler's version and the CPU's
feature flags; it is written to a temporary file and renamed into place, so parallel processes (test
workers) never load half a file, and later processes only load it.

Building is bounded (``BUILD_TIMEOUT_S``) and optional: without a compiler, on a compile error or a timeout
``load`` returns None and warns once per kernel and process, naming why; the caller then runs its readable
version. A compile error is remembered beside the cache entry (``*.failed``), so other processes do not try
the same source again; a timeout is not (a busy machine may build it next time). Environment:
``PRUNEBENCH_NATIVE=0`` turns every kernel off (no warning), ``CXX`` names the compiler,
``PRUNEBENCH_CACHE_DIR`` moves the cache (default ``$XDG_CACHE_HOME/prunebench`` or ``~/.cache/prunebench``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

BUILD_TIMEOUT_S = 180.0
"""Longest a build may take; past it the readable version runs (~12 s of CPU time here, 45 s wall on a busy VM)."""
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared", "-std=c++17", "-pthread")
"""``-ffp-contract=off``: a fused multiply-add would round differently from torch's separate operations."""
ENABLED_ENV = "PRUNEBENCH_NATIVE"
CACHE_ENV = "PRUNEBENCH_CACHE_DIR"


class NativeKernelWarning(UserWarning):
    """A compiled kernel could not be built or loaded; the readable version runs instead (slower, same masks)."""


class BuildError(Exception):
    """Why a kernel is not available: the message a warning repeats."""


@dataclass(frozen=True)
class KernelSource:
    """One kernel: its name, its C++ file, and the ABI version its glue expects (``<abi_symbol>()`` returns it)."""

    name: str
    path: Path
    abi_symbol: str
    abi_version: int


def enabled() -> bool:
    """Whether compiled kernels may run at all (``PRUNEBENCH_NATIVE=0`` says no)."""
    return os.environ.get(ENABLED_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def cache_directory() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured) / "native"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prunebench" / "native"


def compiler() -> str | None:
    """The C++ compiler: ``$CXX``, else ``g++``, ``c++`` or ``clang++`` on PATH."""
    named = os.environ.get("CXX")
    if named:
        return named
    return next((found for name in ("g++", "c++", "clang++") if (found := shutil.which(name))), None)


def _cpu_features() -> str:
    """The CPU's feature flags (what ``-march=native`` compiles for), or the machine's architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _compiler_identity(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise BuildError(f"the compiler {cxx!r} does not run ({error})") from None


def cache_key(source: KernelSource, cxx: str) -> str:
    digest = hashlib.sha256()
    for part in (source.path.read_text(encoding="utf-8"), " ".join(FLAGS), _compiler_identity(cxx), _cpu_features()):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def build(source: KernelSource, directory: Path, cxx: str, timeout_s: float) -> Path:
    """The path of the built library in ``directory``, compiling it if no process has yet; raises BuildError."""
    library = directory / f"{source.name}-{cache_key(source, cxx)}.so"
    failed = library.with_suffix(".failed")
    if library.exists():
        return library
    if failed.exists():
        raise BuildError(f"it failed to compile before ({failed}; delete it to retry): {failed.read_text()[:500]}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{source.name}.", suffix=".so", dir=directory)
        os.close(descriptor)
    except OSError as error:
        raise BuildError(f"the cache directory {directory} is not writable ({error.strerror})") from None
    try:
        command = [cxx, *FLAGS, "-o", temporary, str(source.path)]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if completed.returncode != 0:
            failed.write_text(completed.stderr[-4000:] or f"{cxx} exited with {completed.returncode}")
            raise BuildError(f"{cxx} exited with {completed.returncode}: {completed.stderr.strip()[-500:]}")
        os.replace(temporary, library)
    except subprocess.TimeoutExpired:
        raise BuildError(
            f"the build took longer than {timeout_s:g} s (a busy machine?); it is retried next run"
        ) from None
    except OSError as error:
        raise BuildError(f"the compiler {cxx!r} could not run ({error.strerror or error})") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return library


def load(source: KernelSource, directory: Path, cxx: str | None, timeout_s: float = BUILD_TIMEOUT_S) -> ctypes.CDLL:
    """Build (or find) and load ``source``; raises BuildError saying why it is not available."""
    if cxx is None:
        raise BuildError("no C++ compiler found (install g++ or set CXX)")
    path = build(source, directory, cxx, timeout_s)
    try:
        library = ctypes.CDLL(str(path))
        version = getattr(library, source.abi_symbol)()
    except (OSError, AttributeError) as error:
        path.unlink(missing_ok=True)  # not a library of ours: the next process builds it again
        raise BuildError(f"{path} does not load ({error}); removed") from None
    if version != source.abi_version:
        raise BuildError(f"{path} has ABI version {version}, expected {source.abi_version}")
    return library


@functools.cache
def library_of(source: KernelSource) -> ctypes.CDLL | None:
    """``source``'s library for this process (built once, then cached); None, with one warning, if unavailable.

    Callers check ``enabled()`` first, on every call: the switch is read afresh, the library only once.
    """
    try:
        return load(source, cache_directory(), compiler())
    except BuildError as error:
        warnings.warn(
            f"the compiled kernel {source.name!r} is not available, so the readable version runs (same masks, "
            f"slower): {error}",
            NativeKernelWarning,
            stacklevel=2,
        )
        return None


def kernel_function(source: KernelSource, symbol: str, argtypes: list) -> ctypes._CFuncPtr | None:
    """``source``'s C function ``symbol`` (returning an int status) with its argument types, or None when kernels
    are off (``enabled()``, read on every call) or the library is not available (``library_of`` warned)."""
    library = library_of(source) if enabled() else None
    if library is None:
        return None
    function = getattr(library, symbol)
    function.restype, function.argtypes = ctypes.c_int, argtypes
    return function
