"""Torch's process-wide settings, captured around each conformance test to catch backends that change them.

A backend that leaves the default dtype at float64, grad mode off or the RNG reseeded silently
changes what every later test in the same worker computes: failures then surface far from their
cause, or not at all. The plugin captures this snapshot before a test's call, compares it after,
restores it, and fails the test that changed it with a message naming each setting.

The RNG is judged by ``torch.initial_seed()``: drawing random numbers is a backend's right, but
reseeding the global generator (``torch.manual_seed``) changes the seed every later draw derives from.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


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
        )

    def changes_since(self, before: TorchGlobalState) -> list[str]:
        """One line per setting that differs from ``before``: ``name: old -> new``."""
        return [
            f"{item.name}: {getattr(before, item.name)} -> {getattr(self, item.name)}"
            for item in fields(self)
            if getattr(before, item.name) != getattr(self, item.name)
        ]

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
        }
        for name, setter in setters.items():
            if getattr(now, name) != getattr(self, name):
                setter(getattr(self, name))


class GlobalStateMutationError(AssertionError):
    """A test left torch's process-wide settings changed (the backend's fault: tests do not change them)."""
