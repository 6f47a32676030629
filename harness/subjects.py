"""Subjects of the generic checks: one pruner class, how to build it, and what contract it claims.

A *subject* is what ``prunebench check MODULE:CLASS`` (or ``parametrize_with_checks``) validates, and
what the ``contract`` suite builds from every rule class a backend provides (``WeightNormSparsifier``,
``SaliencyPruner``, ...). Whether it is an element-wise sparsifier or a structured pruner follows from
its base classes, by name, so a class built on ``torch.ao.pruning``, ``reference_impl``, torchao's
copy or any other implementation of the contract's bases is recognised alike.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .tags import PrunerTags, tags_of

SPARSIFIER = "sparsifier"
PRUNER = "structured pruner"
KINDS: tuple[str, ...] = (SPARSIFIER, PRUNER)

RULE_CLASSES: dict[str, str] = {
    "WeightNormSparsifier": SPARSIFIER,
    "NearlyDiagonalSparsifier": SPARSIFIER,
    "WandaSparsifier": SPARSIFIER,
    "OneShotMagnitudeSparsifier": SPARSIFIER,
    "SaliencyPruner": PRUNER,
    "LSTMSaliencyPruner": PRUNER,
    "FPGMPruner": PRUNER,
}
"""The contract's concrete classes (each a selection rule), and their kind: what ``--like`` may name."""

BUILTIN_KWARGS: dict[str, dict[str, Any]] = {
    "SaliencyPruner": {"defaults": {"sparsity_level": 0.5}},
    "LSTMSaliencyPruner": {"defaults": {"sparsity_level": 0.5}},
    "FPGMPruner": {"sparsity_level": 0.5},
}
"""Constructor arguments for rule classes whose constructor has no usable default (a structured pruner's
``defaults`` dict); the others are built with none."""

LIBRARY_OF_MODULE: dict[str, str] = {
    "torch.ao.pruning": "torch",
    "torchao.prototype.sparsity": "torchao",
}
"""Module prefixes of libraries whose declared bugs a subclass inherits (see ``inherited_from``)."""


def kind_of(cls: type) -> str | None:
    """``PRUNER`` when a base is named ``BaseStructuredSparsifier``, ``SPARSIFIER`` for ``BaseSparsifier``.

    By name, because the contract's bases exist in several libraries; structured first, because
    torch's structured base derives from its element-wise one.
    """
    names = {base.__name__ for base in inspect.getmro(cls)}
    if "BaseStructuredSparsifier" in names:
        return PRUNER
    if "BaseSparsifier" in names:
        return SPARSIFIER
    return None


@dataclass(frozen=True)
class Subject:
    """One class under the generic checks: its name in test ids, a factory for fresh instances, its kind."""

    name: str
    cls: type = field(repr=False)
    factory: Callable[[], Any] = field(repr=False, compare=False)
    kind: str
    kwargs_text: str = "{}"
    """The constructor arguments as JSON, for reproduction commands."""
    tags: PrunerTags = field(default_factory=PrunerTags)
    """What the class declares it supports (``harness.tags``): the checks hold it to that, no less."""

    def build(self) -> Any:
        """A fresh instance: every check starts from an unused sparsifier."""
        instance = self.factory()
        if not isinstance(instance, self.cls):
            raise UsageError(f"the factory of {self.name} returned a {type(instance).__name__}, not a {self.cls}")
        return instance

    def defining_library(self, method: str) -> str | None:
        """The library (``torch``, ``torchao``) whose class defines ``method`` for this subject, if any."""
        for klass in inspect.getmro(self.cls):
            if method in vars(klass):
                module = klass.__module__
                return next((lib for prefix, lib in LIBRARY_OF_MODULE.items() if module.startswith(prefix)), None)
        return None

    def inherited_from(self, methods: tuple[str, ...]) -> str | None:
        """The library every one of ``methods`` is inherited from unchanged, or None.

        A user's class that overrides only its selection rule inherits, say, torch's ``state_dict``;
        a check of ``state_dict`` then fails for torch's bug, not the user's, and torch's declared
        expected failure for that check applies to the subject too.
        """
        if not methods:
            return None
        libraries = {self.defining_library(method) for method in methods}
        return libraries.pop() if len(libraries) == 1 and None not in libraries else None


def subject_of_class(
    cls: type, kwargs: Mapping[str, Any] | None = None, name: str | None = None, rule: str | None = None
) -> Subject:
    """A subject building ``cls(**kwargs)``; a class that is neither kind is a usage error.

    ``rule``: the contract class ``cls`` stands for (a backend's rule class, or ``--like``), whose tags
    apply when ``cls`` declares none.
    """
    kind = kind_of(cls)
    if kind is None:
        raise UsageError(
            f"{cls.__module__}.{cls.__qualname__} derives from neither BaseSparsifier nor BaseStructuredSparsifier "
            "(of torch.ao.pruning or another implementation of the contract): prunebench cannot check it"
        )
    arguments = dict(BUILTIN_KWARGS.get(cls.__name__, {}) if kwargs is None else kwargs)
    return Subject(
        name=name or cls.__name__,
        cls=cls,
        factory=lambda: cls(**copy.deepcopy(arguments)),  # a class may keep (and mutate) the dict it is given
        kind=kind,
        kwargs_text=json.dumps(arguments, sort_keys=True),
        tags=tags_of(cls, rule or name),
    )


def subject_of(candidate: Any, index: int = 0) -> Subject:
    """A subject from what ``parametrize_with_checks`` accepts: a class, or a factory of instances.

    A factory is called once here to learn the class (and again for every check).
    """
    if isinstance(candidate, type):
        return subject_of_class(candidate)
    if not callable(candidate):
        raise UsageError(f"expected a pruner class or a factory returning an instance, got {candidate!r}")
    sample = candidate()
    subject = subject_of_class(type(sample))
    name = f"{subject.name}#{index}" if index else subject.name
    return Subject(name, subject.cls, candidate, subject.kind, tags=subject.tags)


def subjects_of_backend(backend: Any, kind: str) -> list[Subject]:
    """The rule classes of ``kind`` that a backend provides, each built with its default arguments."""
    subjects = []
    for name, rule_kind in RULE_CLASSES.items():
        if rule_kind != kind or not backend.provides(name):
            continue
        subjects.append(subject_of_class(backend.get(name), name=name, rule=name))
    return subjects


def load_class(spec: str) -> type:
    """``package.module:Class`` -> the class; anything else is a usage error naming the problem."""
    module_path, colon, attribute = spec.partition(":")
    if not colon or not module_path or not attribute:
        raise UsageError(f"expected MODULE:CLASS (e.g. my_pkg.pruners:MagnitudeSparsifier), got {spec!r}")
    try:
        namespace: Any = importlib.import_module(module_path)
    except Exception as error:  # a broken module must give a usage error, not a traceback
        if isinstance(error, ImportError) and (module_path.endswith(".py") or "/" in module_path):
            module = module_path.removesuffix(".py").rsplit("/", 1)[-1]
            raise UsageError(
                f"{spec!r} names a file; give its module's import name instead: {module}:{attribute} (from the "
                "folder that holds the file, or with its package installed)"
            ) from error
        raise UsageError(f"importing {module_path!r} raised {type(error).__name__}: {error}") from error
    for part in attribute.split("."):
        if not hasattr(namespace, part):
            raise UsageError(f"module {module_path!r} has no attribute {attribute!r}")
        namespace = getattr(namespace, part)
    if not isinstance(namespace, type):
        raise UsageError(f"{spec!r} is a {type(namespace).__name__}, not a class")
    return namespace


def parse_kwargs(text: str | None) -> dict[str, Any] | None:
    """``--kwargs`` JSON -> a dict of constructor arguments (None when not given)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--kwargs must be a JSON object, got {text!r} ({error})") from error
    if not isinstance(value, dict):
        raise UsageError(f"--kwargs must be a JSON object of constructor arguments, got {text!r}")
    return value


def check_like(like: str | None, kind: str) -> None:
    """``--like`` must name a rule class of the subject's own kind."""
    if like is None:
        return
    if like not in RULE_CLASSES:
        raise UsageError(f"--like={like!r}: expected one of {', '.join(RULE_CLASSES)}")
    if RULE_CLASSES[like] != kind:
        raise UsageError(f"--like={like!r} is a {RULE_CLASSES[like]}, but the class under check is a {kind}")
