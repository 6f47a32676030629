"""Torch's process-wide settings, captured around each conformance test to catch backends that change them.

A backend that leaves the default dtype at float64, grad mode off or the RNG reseeded silently
changes what every later test in the same worker computes: failures then surface far from their
cause, or not at all. The plugin captures this snapshot before a test's call, compares it after,
restores it, and fails the test that changed it with a message naming each setting.

The RNG is judged by ``torch.initial_seed()``: drawing random numbers is a backend's right, but
reseeding the global generator (``torch.manual_seed``) changes the seed every later draw derives from.
Warnings filters count where they change outcomes: an ``error`` filter turns every matching warning into
an exception in whatever runs next (libraries add ``ignore`` filters at import as a matter of course; those
change what is shown, not what passes).
Beyond torch: the working directory, the environment and the clocks the harness times with (a
backend that replaces ``time.perf_counter`` could report any speedup it likes). The plugin also
takes one snapshot before any backend is imported and compares it after the imports.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import torch

CLOCKS: dict[str, object] = {"perf_counter": time.perf_counter, "monotonic": time.monotonic, "time": time.time}
"""The clock functions as they were when the harness was imported, before any backend."""
VOLATILE_ENVIRONMENT = frozenset(
    {"PYTEST_CURRENT_TEST", "TORCHINDUCTOR_CACHE_DIR", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"}
)
"""Variables the tools themselves write: pytest around every test phase, torch when its inductor is
first imported (by torch.export, an optimizer's first step or a library such as torchao), and
scikit-learn / joblib (OpenMP runtime settings) when first imported, which ``transformers`` does lazily
while the zoo and one-shot suites build their models."""


def _flush_denormal() -> bool:
    """Whether denormals flush to zero (torch has a setter, no getter): 1e-40 survives a multiply or not."""
    tiny = torch.tensor([1e-40], dtype=torch.float32)
    return bool((tiny * 1.0).item() == 0.0)


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k not in VOLATILE_ENVIRONMENT))


def _clocks() -> tuple[str, ...]:
    """The clock functions that are not the ones the harness bound at import."""
    return tuple(sorted(name for name, clock in CLOCKS.items() if getattr(time, name) is not clock))


def _warning_errors() -> tuple[str, ...]:
    """Each ``error`` warnings filter, described: what turns warnings into exceptions."""
    return tuple(
        f"error for {category.__name__}" + (f" matching {message.pattern!r}" if message is not None else "")
        for action, message, category, _, _ in warnings.filters
        if action == "error"
    )


def _set_warnings_filters(filters: tuple[Any, ...]) -> None:
    warnings.filters[:] = list(filters)
    warnings._filters_mutated()  # type: ignore[attr-defined]  # what warnings.simplefilter itself calls


def _set_environment(items: tuple[tuple[str, str], ...]) -> None:
    wanted = dict(items)
    for key in [k for k in os.environ if k not in wanted and k not in VOLATILE_ENVIRONMENT]:
        del os.environ[key]
    os.environ.update(wanted)


def _restore_clocks(replaced: tuple[str, ...]) -> None:
    for name in CLOCKS:
        setattr(time, name, CLOCKS[name])


@dataclass(frozen=True)
class TorchGlobalState:
    """The process-wide torch settings a pruning backend has no business changing."""

    default_dtype: torch.dtype
    default_device: str
    grad_enabled: bool
    inference_mode: bool
    anomaly_detection: bool
    deterministic_algorithms: bool
    num_threads: int
    rng_seed: int
    flush_denormal: bool
    float32_matmul_precision: str
    cudnn_allow_tf32: bool
    working_directory: str
    environment: tuple[tuple[str, str], ...]
    replaced_clocks: tuple[str, ...]
    warning_errors: tuple[str, ...]
    warnings_filters: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    """Every filter, to put back when ``warning_errors`` changed (compared through ``warning_errors`` only)."""

    @classmethod
    def capture(cls) -> TorchGlobalState:
        return cls(
            default_dtype=torch.get_default_dtype(),
            default_device=str(torch.get_default_device()),
            grad_enabled=torch.is_grad_enabled(),
            inference_mode=torch.is_inference_mode_enabled(),
            anomaly_detection=torch.is_anomaly_enabled(),
            deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
            num_threads=torch.get_num_threads(),
            rng_seed=torch.initial_seed(),
            flush_denormal=_flush_denormal(),
            float32_matmul_precision=torch.get_float32_matmul_precision(),
            cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
            working_directory=os.getcwd(),
            environment=_environment(),
            replaced_clocks=_clocks(),
            warning_errors=_warning_errors(),
            warnings_filters=tuple(warnings.filters),
        )

    def changes_since(self, before: TorchGlobalState) -> list[str]:
        """One line per setting that differs from ``before``: ``name: old -> new``."""
        changes = []
        for item in fields(self):
            old, new = getattr(before, item.name), getattr(self, item.name)
            if old == new or not item.compare:
                continue
            if item.name == "environment":
                changed = sorted({k for k, _ in set(old) ^ set(new)})
                changes.append(f"environment: variables {changed} set, changed or removed")
            elif item.name == "replaced_clocks":
                changes.append(f"clocks: time.{', time.'.join(new or old)} replaced (the harness times with them)")
            elif item.name == "warning_errors":
                added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
                what = [f"{filter_} added" for filter_ in added] + [f"{filter_} removed" for filter_ in removed]
                changes.append(f"warnings filters: {'; '.join(what)} (an error filter turns warnings into exceptions)")
            else:
                changes.append(f"{item.name}: {old} -> {new}")
        return changes

    def restore(self) -> None:
        """Put back each changed setting, so one misbehaving test cannot poison the rest of the worker.

        Only what differs is touched: some setters (deterministic algorithms) import heavy modules.
        ``inference_mode`` has no global setter; a test that leaves it on is reported, not undone.
        """
        now = TorchGlobalState.capture()
        setters = {
            "default_dtype": torch.set_default_dtype,
            "default_device": lambda device: torch.set_default_device(None if device == "cpu" else device),
            "grad_enabled": torch.set_grad_enabled,
            "anomaly_detection": torch.autograd.set_detect_anomaly,
            "deterministic_algorithms": torch.use_deterministic_algorithms,
            "num_threads": torch.set_num_threads,
            "rng_seed": torch.manual_seed,
            "flush_denormal": torch.set_flush_denormal,
            "float32_matmul_precision": torch.set_float32_matmul_precision,
            "cudnn_allow_tf32": lambda allowed: setattr(torch.backends.cudnn, "allow_tf32", allowed),
            "working_directory": os.chdir,
            "environment": _set_environment,
            "replaced_clocks": _restore_clocks,
        }
        for name, setter in setters.items():
            if getattr(now, name) != getattr(self, name):
                setter(getattr(self, name))
        if now.warning_errors != self.warning_errors:
            _set_warnings_filters(self.warnings_filters)


class GlobalStateMutationError(AssertionError):
    """A test left torch's process-wide settings changed (the backend's fault: tests do not change them)."""
