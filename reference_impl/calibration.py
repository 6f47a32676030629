"""Calibration for one-shot sparsifiers: statistics of each layer's inputs, gathered by forward hooks.

Wanda and SparseGPT share a lifecycle: ``prepare`` attaches the masks and one recorder per sparsified
Linear weight, the user runs calibration forward passes through the prepared model, and ``step`` turns
what each recorder saw into that layer's mask (and, for SparseGPT, its new weights). A recorder is a
forward pre-hook that flattens the layer's input to ``(samples, in_features)`` rows and adds them to its
statistic; ``squash_mask`` removes the hooks with the statistics. ``CalibratedSparsifier`` is that
lifecycle, and a subclass names its statistic with ``recorder_type``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .base_sparsifier import BaseSparsifier


def statistic_dtype(inputs: torch.Tensor) -> torch.dtype:
    """float64 for float64 inputs, else float32: half-precision sums of many squares lose the small ones."""
    return torch.float64 if inputs.dtype == torch.float64 else torch.float32


class InputRecorder:
    """A forward pre-hook on one layer that accumulates a statistic of the rows of its input."""

    def __init__(self) -> None:
        self.handle: RemovableHandle | None = None
        self.samples = 0

    def attach(self, module: nn.Module) -> None:
        self.handle = module.register_forward_pre_hook(self._record)

    def detach(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None

    def _record(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        inputs = args[0].detach()
        rows = inputs.reshape(-1, inputs.shape[-1])
        self.accumulate(rows.to(statistic_dtype(rows)))
        self.samples += rows.shape[0]

    def accumulate(self, rows: torch.Tensor) -> None:
        """Add ``rows`` (``samples x in_features``, float32 or float64) to the statistic."""
        raise NotImplementedError

    def require_samples(self, sparsifier: str, tensor_fqn: str) -> None:
        """A calibration that saw nothing is an error, never a mask computed from no data."""
        if self.samples == 0:
            raise RuntimeError(
                f"{sparsifier} has no activations for {tensor_fqn!r}: run calibration forward passes "
                "through the prepared model before step()"
            )


class InputNorms(InputRecorder):
    """Per input feature, the sum of squared activations (Wanda's ``||X[:, j]||_2`` squared)."""

    def __init__(self) -> None:
        super().__init__()
        self.squares: torch.Tensor | None = None

    def accumulate(self, rows: torch.Tensor) -> None:
        batch = rows.square().sum(dim=0)
        self.squares = batch if self.squares is None else self.squares + batch

    def column_norms(self) -> torch.Tensor:
        """``||X[:, j]||_2`` per input feature ``j``."""
        assert self.squares is not None, "column_norms() before any calibration sample (require_samples first)"
        return self.squares.sqrt()


class InputHessian(InputRecorder):
    """``X^T X`` over every input row: the layer-wise reconstruction error's Hessian, up to the factor 2."""

    def __init__(self) -> None:
        super().__init__()
        self.gram: torch.Tensor | None = None

    def accumulate(self, rows: torch.Tensor) -> None:
        batch = rows.T @ rows
        self.gram = batch if self.gram is None else self.gram + batch

    def hessian(self) -> torch.Tensor:
        """``H = 2 X^T X / n``, the paper's normalisation (the scale changes neither masks nor updates)."""
        assert self.gram is not None, "hessian() before any calibration sample (require_samples first)"
        return 2 * self.gram / self.samples


class CalibratedSparsifier(BaseSparsifier):
    """A sparsifier whose ``step`` needs the inputs each layer saw in calibration forward passes."""

    recorder_type: ClassVar[type[InputRecorder]] = InputRecorder
    prunebench_tags: ClassVar[dict[str, Any]] = {"calibration": True, "layer_types": ["Linear"]}
    """Declared capabilities (prunebench's suites read them): ``step`` needs calibration forward passes, and
    scores Linear weights (a row's inputs are the features the calibration recorded)."""

    def prepare(self, model: nn.Module, config: Sequence[Mapping[str, Any]] | None) -> None:
        """Attach masks (all kept) and the input recorders; calibrate by running the model next."""
        self._remove_recorders()
        super().prepare(model, config)
        self._recorders: dict[str, InputRecorder] = {}
        for group in self.groups:
            recorder = self.recorder_type()
            recorder.attach(group["module"])
            self._recorders[group["tensor_fqn"]] = recorder

    def recorder(self, tensor_fqn: str) -> Any:
        """The statistics of ``tensor_fqn``'s layer; an error when calibration saw none of its inputs."""
        recorder = getattr(self, "_recorders", {}).get(tensor_fqn) or self.recorder_type()
        recorder.require_samples(type(self).__name__, tensor_fqn)
        return recorder

    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        """Remove the input recorders and their statistics, then bake the masks in."""
        self._remove_recorders()
        super().squash_mask(*args, **kwargs)

    def _remove_recorders(self) -> None:
        for recorder in getattr(self, "_recorders", {}).values():
            recorder.detach()
        self._recorders = {}
