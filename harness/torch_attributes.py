"""The attributes of torch's classes and functions the suites rely on, snapshotted to catch backends that patch them.

A backend that replaces ``torch.ao.pruning.BaseSparsifier.state_dict`` when it is imported changes torch
itself for every test after it: beside the ``torch`` backend it turns torch's declared bugs into passes
(XPASS: "torch fixed it" when it did not). The plugin snapshots these attributes before any backend is
imported and compares after the imports (a usage error naming each one) and after every test (the test
fails, the attribute is put back).

What is watched: every class and function of the modules the contract and the suites use
(``torch.ao.pruning`` and its sparsifier and pruner modules, ``torch.nn.utils.parametrize`` and ``prune``,
``torch.nn.functional``), the attributes of every class they define, and the classes and functions the
suites build models, compare and save with (``nn.Module`` and the layers, ``Tensor``, ``torch.save``,
``torch.load``, ``torch.equal``, ``torch.export.export``, ``torch.fx.symbolic_trace``). A module's new
attribute is not a patch (importing a submodule adds one); a class's new attribute is (it overrides).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

WATCHED_MODULES = (
    "torch.ao.pruning",
    "torch.ao.pruning.sparsifier.base_sparsifier",
    "torch.ao.pruning.sparsifier.utils",
    "torch.ao.pruning.sparsifier.weight_norm_sparsifier",
    "torch.ao.pruning.sparsifier.nearly_diagonal_sparsifier",
    "torch.ao.pruning._experimental.pruner",
    "torch.ao.pruning._experimental.pruner.base_structured_sparsifier",
    "torch.ao.pruning._experimental.pruner.parametrization",
    "torch.nn.utils.parametrize",
    "torch.nn.utils.prune",
    "torch.nn.functional",
)
WATCHED_CLASSES: tuple[type, ...] = (
    torch.Tensor,
    nn.Parameter,
    nn.Module,
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    nn.Linear,
    nn.Conv2d,
    nn.LSTM,
    nn.BatchNorm2d,
    nn.LayerNorm,
    nn.ReLU,
)
CACHES = frozenset({"__slotnames__"})
"""Class attributes Python itself adds on first use (``copyreg`` caches slot names on first pickle)."""
WATCHED_FUNCTIONS = ("save", "load", "equal", "manual_seed", "allclose", "where")
"""``torch.<name>``: what the suites save, load and compare with."""

Owner = Any
"""A module or a class whose attributes are watched."""


def _watched_modules() -> list[Any]:
    """The watched modules that are imported (importing one here would change what the run imports)."""
    return [sys.modules[name] for name in WATCHED_MODULES if name in sys.modules]


def _classes_of(module: Any) -> list[type]:
    return [
        value for value in vars(module).values() if isinstance(value, type) and value.__module__.startswith("torch")
    ]


@dataclass(frozen=True)
class TorchAttributes:
    """The watched attributes' values, by owner and name: ``changes_since`` names what was replaced."""

    values: dict[tuple[int, str], Any]
    owners: dict[int, tuple[Owner, str, bool]]
    """id(owner) -> (owner, its dotted name, whether new attributes count: classes yes, modules no)."""

    @classmethod
    def capture(cls) -> TorchAttributes:
        owners: dict[int, tuple[Owner, str, bool]] = {id(torch): (torch, "torch", False)}
        for module in _watched_modules():
            owners[id(module)] = (module, module.__name__, False)
            for owned in _classes_of(module):
                owners[id(owned)] = (owned, f"{owned.__module__}.{owned.__qualname__}", True)
        for owned in WATCHED_CLASSES:
            owners[id(owned)] = (owned, f"{owned.__module__}.{owned.__qualname__}", True)
        values: dict[tuple[int, str], Any] = {}
        for key, (owner, _, _) in owners.items():
            names = WATCHED_FUNCTIONS if owner is torch else list(vars(owner))
            for name in names:
                values[(key, name)] = vars(owner).get(name)
        return cls(values, owners)

    def changes_since(self, before: TorchAttributes) -> list[str]:
        """``torch.ao.pruning.BaseSparsifier.state_dict replaced``: one line per attribute that differs."""
        changes = []
        for (key, name), old in before.values.items():
            owner, dotted, _ = before.owners[key]
            new = vars(owner).get(name)
            if new is not old and not _torch_wrapper_of(new, old):
                changes.append(f"{dotted}.{name} {'deleted' if new is None else 'replaced'}")
        for key, (owner, dotted, additions_count) in before.owners.items():
            if additions_count:
                added = sorted(name for name in _added(owner, key, before.values))
                changes += [f"{dotted}.{name} added" for name in added]
        return changes

    def restore(self) -> None:
        """Put every watched attribute back as it was (added class attributes removed)."""
        for (key, name), old in self.values.items():
            owner = self.owners[key][0]
            if vars(owner).get(name) is not old and old is not None:
                _set(owner, name, old)
        for key, (owner, _, additions_count) in self.owners.items():
            if additions_count:
                for name in list(_added(owner, key, self.values)):
                    _delete(owner, name)


TORCH_DIR = Path(torch.__file__).resolve().parent
SUITE_LIBRARIES = ("transformers",)
"""Libraries the suites build their models with. Their own additions to torch's classes are theirs, not a
backend's: ``transformers`` adds ``nn.Module.smart_apply`` the first time it initialises a model's weights,
whichever backend then prunes that model."""


@functools.cache
def _library_dirs() -> tuple[Path, ...]:
    """Where the suites' libraries are installed (found without importing them)."""
    found = []
    for name in SUITE_LIBRARIES:
        spec = importlib.util.find_spec(name) if name not in sys.modules else sys.modules[name].__spec__
        origin = getattr(spec, "origin", None)
        if origin:
            found.append(Path(origin).resolve().parent)
    return tuple(found)


def _added(owner: Owner, key: int, known: dict[tuple[int, str], Any]) -> Iterator[str]:
    """Attributes of ``owner`` that ``known`` lacks: Python's own caches and the suites' libraries' additions aside."""
    for name in list(vars(owner)):
        if (key, name) in known or name in CACHES or _from_suite_library(vars(owner)[name]):
            continue
        yield name


def _from_suite_library(value: Any) -> bool:
    code = getattr(value, "__code__", None)
    if code is None:
        return False
    path = Path(code.co_filename).resolve()
    return any(path.is_relative_to(directory) for directory in _library_dirs())


def _torch_wrapper_of(new: Any, old: Any) -> bool:
    """``new`` is torch's own wrapper of ``old``: its code lives in torch and it wraps ``old``
    (``torch._dynamo``'s import wraps ``torch.manual_seed`` so that compiled code does not trace into it)."""
    code = getattr(new, "__code__", None)
    if code is None or not Path(code.co_filename).resolve().is_relative_to(TORCH_DIR):
        return False
    wrapped = getattr(new, "__wrapped__", None)
    while wrapped is not None and wrapped is not old:
        wrapped = getattr(wrapped, "__wrapped__", None)
    return wrapped is old


def _set(owner: Owner, name: str, value: Any) -> None:
    with contextlib.suppress(AttributeError, TypeError):  # a slot of a built-in type cannot be set from Python
        setattr(owner, name, value)


def _delete(owner: Owner, name: str) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        delattr(owner, name)


def import_watched_modules() -> None:
    """Import the watched modules (the plugin does, before any backend, so that their snapshot exists)."""
    for name in WATCHED_MODULES:
        importlib.import_module(name)
