"""Building a user's class the way the class is built, when a suite asks for it as torch's class.

The suites of a rule build it as ``torch.ao.pruning`` does: ``WeightNormSparsifier(sparsity_level=0.5,
sparse_block_shape=(1, 4))``, ``SaliencyPruner({"sparsity_level": 0.5})``. A class under ``prunebench
check --like=NAME`` has its own constructor, and its signature decides: each setting the suite passes
goes to the parameter of that name, else into a ``defaults`` dict the constructor takes, else through
its ``**kwargs``; ``--kwargs`` supplies the rest. A setting the constructor cannot take makes the test
*unsupported* with that reason, never a ``TypeError`` charged to the class.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UnsupportedError, UsageError
from .tags import PrunerTags

DEFAULTS = "defaults"


def settings_of_call(rule: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a call written for torch's ``rule`` class: its keywords, and the ``defaults`` dict
    torch's structured pruners take (positionally or by name)."""
    if len(args) > 1 or (args and not isinstance(args[0], Mapping)):
        raise TypeError(f"{rule} is built with keyword settings or one defaults dict, got positional {args!r}")
    settings = dict(args[0]) if args else {}
    settings.update(kwargs.get(DEFAULTS) or {})
    settings.update({key: value for key, value in kwargs.items() if key != DEFAULTS})
    return settings


@dataclass(frozen=True)
class ConstructorMap:
    """How to call ``cls`` with a suite's settings: by its own signature, over the user's ``--kwargs``."""

    cls: type
    rule: str
    base: Mapping[str, Any] = field(default_factory=dict)

    def arguments(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments for ``cls``; a setting it cannot take raises ``UnsupportedError``."""
        parameters = _parameters(self.cls)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        arguments = copy.deepcopy(dict(self.base))
        for key, value in settings.items():
            if key in parameters and key != DEFAULTS:
                arguments[key] = value
            elif DEFAULTS in parameters:
                arguments[DEFAULTS] = {**(arguments.get(DEFAULTS) or {}), key: value}
            elif takes_any:
                arguments[key] = value
            else:
                named = ", ".join(name for name in parameters if name != "self") or "none"
                raise UnsupportedError(
                    f"{self.cls.__name__}'s constructor takes no {key!r} (its parameters: {named}), which the "
                    f"{self.rule} suites set here"
                )
        return arguments


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(cls).parameters)
    except (TypeError, ValueError):  # a C-implemented constructor: keywords pass through as they are
        return {"kwargs": inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)}


def adapted_class(cls: type, rule: str, base: Mapping[str, Any], tags: PrunerTags) -> type:
    """A subclass of ``cls`` that the suites of ``rule`` can build as torch's class, and that reaches its
    level in one ``step()`` when ``cls`` declares a schedule (the rule's suites judge one step)."""
    mapping = ConstructorMap(cls, rule, base)

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        cls.__init__(self, **mapping.arguments(settings_of_call(rule, args, kwargs)))

    namespace: dict[str, Any] = {
        "__init__": init,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
    }
    if tags.scheduled:

        def step(self: Any) -> None:
            for _ in range(tags.steps_for(self)):
                cls.step(self)

        namespace["step"] = step
    return type(cls.__name__, (cls,), namespace)


def check_buildable(adapted: type, rule: str, call: Mapping[str, Any]) -> None:
    """``--like=rule`` needs the class buildable as the rule's suites build it: a usage error, in one line,
    when it is not (a required parameter with no value, a setting it cannot take, its own error)."""
    try:
        adapted(**call)
    except Exception as error:
        shown = ", ".join(f"{key}={value!r}" for key, value in call.items())
        raise UsageError(
            f"--like={rule}: {adapted.__name__} cannot be built as the {rule} suites build it ({rule}({shown})): "
            f"{type(error).__name__}: {error}; give the arguments it needs with --kwargs"
        ) from None
