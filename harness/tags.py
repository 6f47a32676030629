"""Declared capabilities of a pruner class (scikit-learn's estimator tags): what it is, as data.

A class says what it supports with a plain dict class attribute, so declaring needs no import of
prunebench::

    class GradualMagnitudeSparsifier(BaseSparsifier):
        prunebench_tags = {"steps_to_level": "total_steps", "layer_types": ["Linear", "Conv2d"]}

A class that declares nothing gets the one-shot contract on every layer type and dtype: the checks
never guess a capability, and an undeclared one is checked. Built-in rule classes get the tags their
rule implies (Wanda needs calibration and scores Linear layers only), so the contract suite does not
call their designs wrong either.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .matrix import DTYPES

TAGS_ATTRIBUTE = "prunebench_tags"
LAYER_TYPES: tuple[str, ...] = ("Linear", "Conv2d", "LSTM")
"""The layer types the generic checks exercise; a class may declare a subset."""


@dataclass(frozen=True)
class PrunerTags:
    """What a pruner class declares about itself (see the module docstring); defaults: nothing special."""

    steps_to_level: int | str | None = None
    """None: one ``step()`` reaches the configured level. An int: that many steps do. A str: the name of
    a setting (a per-tensor config key, a ``defaults`` key or an attribute of the instance) holding the
    number of steps, e.g. an AGP schedule's ``total_steps``."""
    layer_types: tuple[str, ...] = LAYER_TYPES
    """The layer types the class prunes; checks on other layers are unsupported for it."""
    dtypes: tuple[str, ...] = tuple(DTYPES)
    """The weight dtypes the class supports; checks in other dtypes are unsupported for it."""
    deterministic: bool = True
    """False: ``step()`` draws from torch's global random generator; checks that compare two steps seed
    it alike before each, and still expect equal masks."""
    calibration: bool = False
    """True: ``step()`` uses statistics recorded by calibration forwards (Wanda, SparseGPT), which a
    ``state_dict`` need not carry; state checks then compare the layer fed by the model's input only."""
    updates_weights: bool = False
    """True: ``step()`` also rewrites the kept weights (SparseGPT's update), so the mask-only step
    contract does not apply; the one-shot suite holds the class to its own contract."""

    def steps_for(self, sparsifier: Any) -> int:
        """How many ``step()`` calls take ``sparsifier`` (prepared) to its configured level."""
        if self.steps_to_level is None:
            return 1
        if isinstance(self.steps_to_level, int):
            return self.steps_to_level
        return _steps_setting(sparsifier, self.steps_to_level)

    @property
    def scheduled(self) -> bool:
        return self.steps_to_level is not None


BUILTIN_TAGS: dict[str, Mapping[str, Any]] = {
    "WandaSparsifier": {"calibration": True, "layer_types": ["Linear"]},
    "NearlyDiagonalSparsifier": {"layer_types": ["Linear"]},
    "SaliencyPruner": {"layer_types": ["Linear", "Conv2d"]},
    "FPGMPruner": {"layer_types": ["Linear", "Conv2d"]},
}
"""The tags a contract rule implies, for a class that stands under that name and declares none."""


def tags_of(cls: type, rule_name: str | None = None) -> PrunerTags:
    """The tags ``cls`` declares, else those of the rule it stands for (``rule_name``), else the defaults.

    A malformed declaration is a usage error naming the class, the key and what is accepted.
    """
    declared = getattr(cls, TAGS_ATTRIBUTE, None)
    if declared is None:
        declared = BUILTIN_TAGS.get(rule_name or "", {})
    elif not isinstance(declared, Mapping):
        raise UsageError(f"{cls.__name__}.{TAGS_ATTRIBUTE} must be a dict, got {type(declared).__name__}")
    return parse_tags(declared, cls.__name__)


def parse_tags(declared: Mapping[str, Any], owner: str) -> PrunerTags:
    """A ``PrunerTags`` from a declaration, every key and value checked."""
    known = PrunerTags.__dataclass_fields__
    unknown = sorted(set(declared) - set(known))
    if unknown:
        raise UsageError(f"{owner}.{TAGS_ATTRIBUTE} has unknown keys {unknown}; known keys: {sorted(known)}")
    values: dict[str, Any] = {}
    for key, value in declared.items():
        values[key] = _PARSERS[key](value, f"{owner}.{TAGS_ATTRIBUTE}[{key!r}]")
    return PrunerTags(**values)


def _steps(value: Any, where: str) -> int | str | None:
    if value is None or (isinstance(value, str) and value.isidentifier()):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise UsageError(f"{where} must be None, an int >= 1 or the name of a setting, got {value!r}")


def _names(choices: tuple[str, ...]) -> Any:
    def parse(value: Any, where: str) -> tuple[str, ...]:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, (list, tuple, set, frozenset)) or not names:
            raise UsageError(f"{where} must be a non-empty list of {list(choices)}, got {value!r}")
        unknown = sorted(str(name) for name in names if name not in choices)
        if unknown:
            raise UsageError(f"{where} names {unknown}; expected some of {list(choices)}")
        return tuple(name for name in choices if name in names)

    return parse


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{where} must be True or False, got {value!r}")
    return value


_PARSERS = {
    "steps_to_level": _steps,
    "layer_types": _names(LAYER_TYPES),
    "dtypes": _names(tuple(DTYPES)),
    "deterministic": _flag,
    "calibration": _flag,
    "updates_weights": _flag,
}


def _steps_setting(sparsifier: Any, name: str) -> int:
    """The largest value of setting ``name`` over the sparsifier's groups, its defaults and attributes."""
    found = [group[name] for group in getattr(sparsifier, "groups", []) if name in group]
    defaults = getattr(sparsifier, "defaults", None) or {}
    if name in defaults:
        found.append(defaults[name])
    if not found and hasattr(sparsifier, name):
        found.append(getattr(sparsifier, name))
    steps = [value for value in found if isinstance(value, numbers.Integral) and not isinstance(value, bool)]
    if not steps or min(steps) < 1:
        raise UsageError(
            f"{type(sparsifier).__name__} declares steps_to_level={name!r}, but no group, default or attribute "
            f"holds an int >= 1 under that name (found {found!r})"
        )
    return int(max(steps))
