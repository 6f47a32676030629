"""One-shot pruning methods as plain records: what a pattern asks for, and one call that prunes a model.

SparseGPT, Wanda and one-shot magnitude prune a trained model once, from a few calibration batches, to an
unstructured level or an N:M pattern. Libraries expose them in different shapes: ``reference_impl`` (and
torchao) as sparsifier classes with a calibration lifecycle (``prepare``, forward passes, ``step``,
``squash_mask``), llm-compressor as modifiers run by its ``oneshot`` entry point. A ``OneShotPruner`` hides
the shape: ``prune(model, calibration, pattern, ignore)`` prunes every ``nn.Linear`` of ``model`` but the
ignored ones, in place. The one-shot suite checks these records, and any other harness (a quality
table) can run them alike.

A backend provides one-shot pruners in either shape: classes under the names of ``ONESHOT_CLASSES`` (each
becomes a record through ``pruner_of_class``), or records in an ``oneshot_pruners`` attribute.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import UnsupportedError

Batch = torch.Tensor | Mapping[str, torch.Tensor]
"""One calibration batch: the model's positional input, or its keyword inputs."""

ONESHOT_CLASSES: dict[str, str] = {
    "SparseGPTSparsifier": "SparseGPT",
    "WandaSparsifier": "Wanda",
    "OneShotMagnitudeSparsifier": "magnitude",
}
"""Contract names of one-shot sparsifier classes, and the method each claims."""

ONESHOT_KIND = "one-shot pruner"
"""The ``subjects`` marker's kind for tests run once per one-shot pruner of a backend."""

ONESHOT_RECORDS = "oneshot_pruners"
"""The backend attribute holding ``OneShotPruner`` records (libraries without lifecycle classes)."""

TAGS_ATTRIBUTE = "prunebench_tags"
"""A class's declared capabilities, a plain dict; a missing key takes its default (``OneShotTags``)."""


@dataclass(frozen=True)
class SparsityPattern:
    """What to prune to: ``sparsity_level`` of each layer, or at most ``n`` nonzeros in every run of ``m``
    consecutive inputs of a row (``n_of_m``; 2:4 keeps 2 of every 4)."""

    sparsity_level: float
    n: int | None = None
    m: int | None = None

    def __post_init__(self) -> None:
        if (self.n is None) != (self.m is None):
            raise ValueError(f"an N:M pattern needs both n and m, got n={self.n!r}, m={self.m!r}")
        if self.m is not None and not (isinstance(self.n, int) and isinstance(self.m, int) and 0 < self.n < self.m):
            raise ValueError(f"an N:M pattern keeps 0 < n < m of every m inputs, got {self.n}:{self.m}")
        if not (isinstance(self.sparsity_level, float | int) and 0 <= self.sparsity_level <= 1):
            raise ValueError(f"sparsity_level must be a number in [0, 1], got {self.sparsity_level!r}")

    @classmethod
    def unstructured(cls, sparsity_level: float) -> SparsityPattern:
        return cls(float(sparsity_level))

    @classmethod
    def n_of_m(cls, n: int, m: int) -> SparsityPattern:
        return cls((m - n) / m if isinstance(m, int) and m > 0 else math.nan, n, m)

    @property
    def label(self) -> str:
        """``50%`` or ``2:4``: in messages and tables."""
        return f"{self.n}:{self.m}" if self.m is not None else f"{self.sparsity_level:.0%}"

    @property
    def id(self) -> str:
        """``unstructured0.5`` or ``2:4``: in test ids (which ``-k`` expressions must be able to name)."""
        return f"{self.n}:{self.m}" if self.m is not None else f"unstructured{self.sparsity_level:g}"

    def half_of_m(self) -> int | None:
        """``m`` of an ``m/2 : m`` pattern (what ``semi_structured_block_size`` expresses), None unstructured;
        any other N:M is unsupported by such classes."""
        if self.m is None:
            return None
        if 2 * self.n != self.m:
            raise UnsupportedError(f"semi_structured_block_size expresses M/2:M patterns only, not {self.label}")
        return self.m


@dataclass(frozen=True)
class OneShotTags:
    """A one-shot pruner's declared capabilities: ``updates_weights`` (its step changes kept weights, as
    SparseGPT's does; default False: masks only) and ``calibration`` (it needs calibration forward passes;
    default False)."""

    updates_weights: bool = False
    calibration: bool = False

    @classmethod
    def of(cls, tags: Mapping[str, Any] | None, owner: str = "a one-shot pruner") -> OneShotTags:
        """From a class's ``prunebench_tags``; keys of other checks are left to them, these two must be bools."""
        if tags is not None and not isinstance(tags, Mapping):
            raise TypeError(f"{TAGS_ATTRIBUTE} of {owner} must be a dict, got {type(tags).__name__}")
        flags = {key: (tags or {}).get(key, False) for key in ("updates_weights", "calibration")}
        wrong = {key: value for key, value in flags.items() if not isinstance(value, bool)}
        if wrong:
            raise TypeError(f"{TAGS_ATTRIBUTE} of {owner}: {wrong} must be True or False")
        return cls(**flags)


PruneFunction = Callable[[nn.Module, Sequence[Batch], SparsityPattern, Sequence[str]], None]
"""``prune(model, calibration, pattern, ignore)``: prune every Linear of ``model`` whose module name is not
in ``ignore``, in place, from the calibration batches."""


@dataclass(frozen=True)
class OneShotPruner:
    """One one-shot method of one library: its name, the method it claims, its call and its tags."""

    name: str
    """As tables and test ids name it: ``SparseGPTSparsifier``, ``SparseGPTModifier``."""
    method: str
    """The rule it claims (``SparseGPT``, ``Wanda``, ``magnitude``) or its own name."""
    prune: PruneFunction = field(repr=False)
    tags: OneShotTags = OneShotTags()


def targeted_layers(model: nn.Module, ignore: Sequence[str]) -> list[str]:
    """Module names of every ``nn.Linear`` of ``model`` not named in ``ignore``: what a one-shot prune targets."""
    unknown = sorted(set(ignore) - {name for name, _ in model.named_modules()})
    if unknown:
        raise ValueError(f"ignore names modules the model does not have: {unknown}")
    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear) and name not in ignore]


def run_calibration(model: nn.Module, calibration: Sequence[Batch]) -> None:
    """Each batch through the model, without autograd."""
    with torch.no_grad():
        for batch in calibration:
            if isinstance(batch, Mapping):
                model(**batch)
            else:
                model(batch)


def pattern_arguments(pattern: SparsityPattern) -> dict[str, Any]:
    """The constructor arguments of Wanda's shape (torchao's and the reference's): ``sparsity_level`` and
    ``semi_structured_block_size`` (M of an M/2:M pattern; other N:M patterns are unsupported)."""
    return {"sparsity_level": pattern.sparsity_level, "semi_structured_block_size": pattern.half_of_m()}


def pruner_of_class(
    cls: type,
    name: str | None = None,
    method: str | None = None,
    arguments: Callable[[SparsityPattern], Mapping[str, Any]] = pattern_arguments,
) -> OneShotPruner:
    """A record driving a sparsifier class through its lifecycle: built with ``arguments(pattern)``, ``prepare``
    on the targeted Linear weights, the calibration batches' forward passes (whether or not the class declares
    it needs them: a library's class may declare nothing, and a class that needs none ignores them), ``step``,
    ``squash_mask``. ``arguments`` may raise ``UnsupportedError`` for a pattern the class cannot express.

    A failing prune leaves the targeted weights as they were (the class may have changed some first).
    """
    tags = OneShotTags.of(getattr(cls, TAGS_ATTRIBUTE, None), cls.__name__)

    def prune(model: nn.Module, calibration: Sequence[Batch], pattern: SparsityPattern, ignore: Sequence[str]) -> None:
        sparsifier = cls(**arguments(pattern))
        layers = targeted_layers(model, ignore)
        before = {fqn: model.get_submodule(fqn).weight.detach().clone() for fqn in layers}
        sparsifier.prepare(model, [{"tensor_fqn": f"{fqn}.weight"} for fqn in layers])
        try:
            run_calibration(model, calibration)
            sparsifier.step()
        except BaseException:
            sparsifier.squash_mask()
            with torch.no_grad():
                for fqn, weight in before.items():
                    model.get_submodule(fqn).weight.copy_(weight)
            raise
        sparsifier.squash_mask()

    return OneShotPruner(name or cls.__name__, method or ONESHOT_CLASSES.get(cls.__name__, cls.__name__), prune, tags)


def oneshot_pruners(backend: Any) -> list[OneShotPruner]:
    """A backend's one-shot pruners: its classes under ``ONESHOT_CLASSES``' names, then its records."""
    pruners = [
        pruner_of_class(backend.get(name), name=name, method=method)
        for name, method in ONESHOT_CLASSES.items()
        if backend.provides(name)
    ]
    if backend.provides(ONESHOT_RECORDS):
        records = list(backend.get(ONESHOT_RECORDS))
        wrong = [record for record in records if not isinstance(record, OneShotPruner)]
        if wrong:
            raise TypeError(f"backend {backend.name!r}: {ONESHOT_RECORDS} holds {wrong[:3]}, expected OneShotPruner")
        pruners += records
    return pruners
