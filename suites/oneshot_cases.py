"""One pruning run per case of the one-shot suite, shared by every check of that case.

A case is one pruner, one model, one pattern, one device and dtype. Pruning it is the expensive step (a
library's ``oneshot`` takes seconds), and most checks judge the same result, so the first check of a case
prunes and the others reuse what it left: the dense model, the pruned one and the calibration batches.
Checks that need runs of their own (determinism, a second pass) prune fresh copies. Models, data and the
random generators during a prune come from fixed seeds (``suites/oneshot_models.py``), so which check
comes first changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from prunebench.harness.errors import UnsupportedError
from prunebench.harness.oneshot import Batch, OneShotPruner, SparsityPattern, targeted_layers
from torch import nn

from .oneshot_models import ONESHOT_MODELS, OneShotModel, seed_of


@dataclass(frozen=True)
class Case:
    """What one check of the one-shot suite judges."""

    pruner: OneShotPruner
    model: OneShotModel
    pattern: SparsityPattern
    device: str
    dtype: torch.dtype

    @classmethod
    def of(cls, backend, subject, model_name: str, pattern, device: str, dtype: torch.dtype) -> Case:
        if subject is None:
            raise UnsupportedError(f"backend {backend.name!r} provides no one-shot pruner")
        return cls(subject, ONESHOT_MODELS[model_name], pattern, device, dtype)

    @property
    def what(self) -> str:
        """``SparseGPTSparsifier at 2:4 on llama (float32)``: the context of every message."""
        dtype = str(self.dtype).removeprefix("torch.")
        return f"{self.pruner.name} at {self.pattern.label} on {self.model.name} ({dtype})"

    def dense(self) -> nn.Module:
        return self.model.build(self.device, self.dtype)

    def calibration(self) -> list[Batch]:
        return self.model.batches(self.device, self.dtype)

    def prune(self, model: nn.Module, calibration: Sequence[Batch] | None = None) -> nn.Module:
        """``model`` pruned in place by the case's pruner (from the case's calibration batches by default),
        with torch's and Python's random generators seeded from the case: a fixed seed, whatever ran before
        (a library may shuffle its calibration samples), and the test's own generators left as they were."""
        batches = self.calibration() if calibration is None else calibration
        with torch.random.fork_rng(devices=[] if self.device == "cpu" else None):
            state = random.getstate()
            torch.manual_seed(seed_of(self.what))
            random.seed(seed_of(self.what))
            try:
                self.pruner.prune(model, batches, self.pattern, self.model.ignore)
            finally:
                random.setstate(state)
        return model


@dataclass(frozen=True)
class PrunedCase:
    """A case after its pruning run: read it, never change it (other checks share it)."""

    case: Case
    dense: nn.Module
    pruned: nn.Module
    calibration: list[Batch]
    targets: list[str]
    """Module names of the Linear layers the prune targets (every Linear not in the ignore list)."""


_PRUNED: dict[Case, PrunedCase | Exception] = {}


def pruned_case(case: Case) -> PrunedCase:
    """The case pruned once: the first call prunes, later calls reuse the result, or raise what it raised
    (a library that fails after seconds of work fails every check of the case, not seconds each)."""
    if case not in _PRUNED:
        try:
            dense = case.dense()
            calibration = case.calibration()
            pruned = case.prune(case.dense(), calibration)
            _PRUNED[case] = PrunedCase(case, dense, pruned, calibration, targeted_layers(dense, case.model.ignore))
        except Exception as error:
            _PRUNED[case] = error
    outcome = _PRUNED[case]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
