"""Per-tensor config keys and the values that override them: shared by the sparsifier and pruner checks.

The keys a class honours per tensor are its own: the keys of its ``defaults`` and the keyword
parameters of its ``update_mask``. For each, ``other_value`` derives a second value of the same kind
(a level moves, an int keeps its parity, a block grows), so that "the per-tensor value wins over the
constructor default" can be checked without knowing the rule.
"""

from __future__ import annotations

import inspect
from typing import Any

LEVEL_KEY = "sparsity_level"
NOT_CONFIG_KEYS = frozenset({"self", "module", "tensor_name", "tensor_fqn", "kwargs", "args"})


def config_keys(sparsifier: Any) -> dict[str, Any]:
    """Each per-tensor key the instance knows, with its default (``inspect.Parameter.empty`` if none)."""
    keys: dict[str, Any] = dict(getattr(sparsifier, "defaults", {}) or {})
    try:
        parameters = inspect.signature(sparsifier.update_mask).parameters.values()
    except (TypeError, ValueError):
        parameters = []
    for parameter in parameters:
        if parameter.name in NOT_CONFIG_KEYS or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        keys.setdefault(parameter.name, parameter.default)
    return keys


def other_value(key: str, default: Any) -> Any:
    """A different legal-looking value for ``key``, or None when none can be derived from ``default``."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, float) or key == LEVEL_KEY:
        if isinstance(default, (int, float)) and 0 <= default <= 1:
            return 0.25 if default != 0.25 else 0.75
        return None
    if isinstance(default, int):
        return default - 2 if default > 2 else default + 2  # keeps parity: nearliness must stay odd
    if isinstance(default, (tuple, list)) and len(default) == 2 and all(isinstance(v, int) for v in default):
        return type(default)((default[0] * 2, default[1]))  # more rows per block: any zeros count still fits
    return None


def level_of(sparsifier: Any) -> float | None:
    """The constructor's default sparsity level, when the class takes one."""
    level = (getattr(sparsifier, "defaults", {}) or {}).get(LEVEL_KEY)
    return float(level) if isinstance(level, (int, float)) and not isinstance(level, bool) else None
