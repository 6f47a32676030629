"""How each backend prunes a trained model at a target: a registry of method records.

A **rule** is a way of choosing what to remove (magnitude, Wanda, L1 rows, FPGM, ...); a **method** is
one backend's implementation of a rule, with the one function that applies it: ``prune(job)`` takes a
``PruningJob`` (the model, the configured layers, the target, calibration batches, example inputs, the
seed), prunes the model and returns the pruned model (the same object, or a new one where the library
returns one, as torch's ``prune()`` does). Methods are compared within a rule: the reference's
magnitude against torch's magnitude, never against another rule.

Methods come from three places:

* ``CONTRACT_RULES``: a contract name a backend provides gives it that rule's method, called exactly as
  ``torch.ao.pruning`` documents the class, so any backend by name (``--backend=my_pkg.mod``) gets the
  same rows. Names that set no level (``NearlyDiagonalSparsifier``) or fit no model here
  (``LSTMSaliencyPruner``) are listed with the reason, in ``NOT_A_GRID_RULE``.
* ``BACKEND_METHODS``: rules a library has beyond the contract, keyed by backend name
  (``torch.nn.utils.prune.global_unstructured``: one magnitude threshold for all configured layers).
* ``FLOOR_METHODS``: random masks and random rows, the floor every rule should clear.
* one-shot records (``harness.oneshot``: SparseGPT, llm-compressor's modifiers) that add a rule
  (``suites/quality/oneshot_methods.py``).

A calibration-based one-shot pruner a backend exposes as a ``harness.oneshot`` record needs nothing here
(``oneshot_methods``); another is one more record: a ``Rule(..., calibrated=True)`` and a ``prune(job)`` that
runs ``job.calibration`` through the model and prunes it in place, in ``CONTRACT_RULES`` under its contract
name or in ``BACKEND_METHODS`` under its backend's name. The protocol, reports and the papers' anchors pick
it up from the record alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from prunebench.harness.backend import Backend
from torch import nn
from torch.nn.utils import prune as nn_prune

from ..zoo.pruning import with_inputs
from .tasks import ExampleInputs

UNSTRUCTURED = "unstructured"
STRUCTURED = "structured"
FLOOR_BACKEND = "floor"
"""The backend name of the random-mask methods (they run on the reference's machinery)."""


@dataclass(frozen=True)
class Target:
    """What a method is asked for: a level of the configured weights (rows), or N zeros of every M."""

    structure: str
    level: float
    n_m: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        return f"{self.n_m[0]}:{self.n_m[1]}" if self.n_m else f"{self.level:g}"


@dataclass(frozen=True)
class PruningJob:
    """One pruning: everything a method may use, the same for every method of a grid point."""

    model: nn.Module
    layers: tuple[str, ...]
    target: Target
    calibration: Sequence[ExampleInputs]
    example_inputs: ExampleInputs
    seed: int

    def config(self) -> list[dict[str, Any]]:
        return [{"tensor_fqn": f"{fqn}.weight"} for fqn in self.layers]


Prune = Callable[[PruningJob], nn.Module]


@dataclass(frozen=True)
class Rule:
    """A selection rule: what its methods are compared by, and what it can be asked for."""

    name: str
    structure: str
    n_m: bool
    """Whether it has an N:M pattern (2:4)."""
    calibrated: bool
    """Whether it needs activations from calibration forwards (activation-aware, as Wanda and SparseGPT)."""
    layer_types: tuple[type[nn.Module], ...]
    description: str


@dataclass(frozen=True)
class PruningMethod:
    """One backend's implementation of a rule."""

    backend: str
    rule: Rule
    prune: Prune
    call: str
    """What it calls, for the report: ``WeightNormSparsifier(sparse_block_shape=(1, 1), ...)``."""

    @property
    def name(self) -> str:
        return f"{self.backend} {self.rule.name}"

    def not_applicable(self, target: Target, layer_types: Sequence[type[nn.Module]]) -> str | None:
        """Why this method has no result at ``target`` on layers of ``layer_types``, or None when it applies."""
        if target.n_m and not self.rule.n_m:
            return f"{self.rule.name} has no N:M pattern"
        foreign = sorted({t.__name__ for t in layer_types if not issubclass(t, self.rule.layer_types)})
        if foreign:
            scored = ", ".join(t.__name__ for t in self.rule.layer_types)
            return f"{self.rule.name} prunes {scored} weights only; the model configures {', '.join(foreign)}"
        return None


@dataclass(frozen=True)
class NotRun:
    """A name a backend provides that gives no method here, and why."""

    backend: str
    name: str
    reason: str


LAYERS = (nn.Linear, nn.Conv2d)
MAGNITUDE = Rule(
    "magnitude",
    UNSTRUCTURED,
    n_m=True,
    calibrated=False,
    layer_types=LAYERS,
    description="WeightNormSparsifier with 1x1 blocks: the smallest |w| of each layer; 2:4 as (1, 4) blocks with "
    "zeros_per_block=2 at sparsity_level=1",
)
WANDA = Rule(
    "Wanda",
    UNSTRUCTURED,
    n_m=True,
    calibrated=True,
    layer_types=(nn.Linear,),
    description="WandaSparsifier: |w| x input-activation norm from calibration forwards; 2:4 as "
    "semi_structured_block_size=4",
)
GLOBAL_MAGNITUDE = Rule(
    "global magnitude",
    UNSTRUCTURED,
    n_m=False,
    calibrated=False,
    layer_types=LAYERS,
    description="one |w| threshold over every configured layer together (torch.nn.utils.prune.global_unstructured)",
)
SALIENCY = Rule(
    "L1 rows",
    STRUCTURED,
    n_m=False,
    calibrated=False,
    layer_types=LAYERS,
    description="SaliencyPruner: the rows (output channels) of lowest L1 norm, then prune()",
)
FPGM = Rule(
    "FPGM",
    STRUCTURED,
    n_m=False,
    calibrated=False,
    layer_types=LAYERS,
    description="FPGMPruner: the rows nearest the geometric median of their layer, then prune()",
)


def _sparsify(sparsifier: Any, job: PruningJob, calibrate: bool) -> nn.Module:
    """A sparsifier's lifecycle: prepare, (calibration forwards), step, squash_mask: zeros baked in."""
    sparsifier.prepare(job.model, job.config())
    if calibrate:
        with torch.no_grad():
            for inputs in job.calibration:
                job.model(*inputs)
    sparsifier.step()
    sparsifier.squash_mask()
    return job.model


def weight_norm_method(backend: Backend, rule: Rule = MAGNITUDE, **extra: Any) -> PruningMethod:
    """Magnitude through ``WeightNormSparsifier``; ``extra`` constructor keywords (a ``norm``) change its scores."""
    sparsifier = backend.get("WeightNormSparsifier")

    def prune(job: PruningJob) -> nn.Module:
        if job.target.n_m:
            zeros, block = job.target.n_m
            kwargs = {"sparsity_level": 1.0, "sparse_block_shape": (1, block), "zeros_per_block": zeros}
        else:
            kwargs = {"sparsity_level": job.target.level, "sparse_block_shape": (1, 1), "zeros_per_block": 1}
        return _sparsify(sparsifier(**kwargs, **extra), job, calibrate=False)

    return PruningMethod(backend.name, rule, prune, "WeightNormSparsifier(sparse_block_shape=(1, 1)); 2:4 (1, 4)")


def _wanda_method(backend: Backend) -> PruningMethod:
    sparsifier = backend.get("WandaSparsifier")

    def prune(job: PruningJob) -> nn.Module:
        if job.target.n_m:
            zeros, block = job.target.n_m
            if 2 * zeros != block:
                raise ValueError(f"WandaSparsifier's N:M is M/2:M only, not {job.target.label}")
            return _sparsify(sparsifier(semi_structured_block_size=block), job, calibrate=True)
        return _sparsify(sparsifier(sparsity_level=job.target.level), job, calibrate=True)

    return PruningMethod(backend.name, WANDA, prune, "WandaSparsifier(sparsity_level=...); 2:4 block size 4")


def construct_pruner(pruner_class: type, level: float, **extra: Any) -> Any:
    """A structured pruner at ``level``: ``sparsity_level=`` where the constructor takes it (FPGMPruner),
    else torch's ``defaults`` dict (``SaliencyPruner(defaults)``, as ``BaseStructuredSparsifier`` takes it)."""
    try:
        parameters = inspect.signature(pruner_class).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "sparsity_level" in parameters:
        return pruner_class(sparsity_level=level, **extra)
    return pruner_class({"sparsity_level": level}, **extra)


def prune_structured(pruner: Any, job: PruningJob) -> nn.Module:
    """A structured pruner's lifecycle: prepare, step, prune() (``example_inputs`` where its signature takes them)."""
    pruner.prepare(job.model, job.config(), **with_inputs(pruner.prepare, job.example_inputs))
    pruner.step()
    return pruner.prune(**with_inputs(pruner.prune, job.example_inputs))


def _structured_method(api_name: str, rule: Rule) -> Callable[[Backend], PruningMethod]:
    def build(backend: Backend) -> PruningMethod:
        pruner_class = backend.get(api_name)

        def prune(job: PruningJob) -> nn.Module:
            return prune_structured(construct_pruner(pruner_class, job.target.level), job)

        return PruningMethod(backend.name, rule, prune, f"{api_name} at sparsity_level, then prune()")

    return build


def _global_magnitude(backend: Backend) -> PruningMethod:
    """``torch.nn.utils.prune.global_unstructured`` with ``L1Unstructured``: a rule the contract lacks."""

    def prune(job: PruningJob) -> nn.Module:
        tensors = [(job.model.get_submodule(fqn), "weight") for fqn in job.layers]
        nn_prune.global_unstructured(tensors, pruning_method=nn_prune.L1Unstructured, amount=job.target.level)
        for module, name in tensors:
            nn_prune.remove(module, name)
        return job.model

    return PruningMethod(backend.name, GLOBAL_MAGNITUDE, prune, "prune.global_unstructured(L1Unstructured, amount)")


CONTRACT_RULES: dict[str, Callable[[Backend], PruningMethod]] = {
    "WeightNormSparsifier": weight_norm_method,
    "WandaSparsifier": _wanda_method,
    "SaliencyPruner": _structured_method("SaliencyPruner", SALIENCY),
    "FPGMPruner": _structured_method("FPGMPruner", FPGM),
}
"""Contract name -> the method a backend providing it gets."""

NOT_A_GRID_RULE: dict[str, str] = {
    "NearlyDiagonalSparsifier": "sets its sparsity by the band's width (nearliness), not by a level: no grid "
    "point asks for it",
    "LSTMSaliencyPruner": "prunes LSTM hidden units; none of the quality models has an LSTM",
}
"""Rule names a backend may provide that the grid cannot run, with the reason the report gives."""

BACKEND_METHODS: dict[str, tuple[Callable[[Backend], PruningMethod], ...]] = {
    "nn-utils-prune": (_global_magnitude,),
}
"""Backend name -> methods of that library beyond the contract."""


def methods_of(backend: Backend) -> tuple[list[PruningMethod], list[NotRun]]:
    """Every method ``backend`` gives the grid, and each rule name it provides that gives none, with why."""
    from .oneshot_methods import oneshot_methods

    methods = [build(backend) for api_name, build in CONTRACT_RULES.items() if backend.provides(api_name)]
    methods += [build(backend) for build in BACKEND_METHODS.get(backend.name, ())]
    methods += oneshot_methods(backend, {method.rule.name for method in methods})
    not_run = [NotRun(backend.name, n, why) for n, why in NOT_A_GRID_RULE.items() if backend.provides(n)]
    return methods, not_run


def floor_methods() -> list[PruningMethod]:
    from .random_masks import random_rows_method, random_weights_method

    return [random_weights_method(), random_rows_method()]
