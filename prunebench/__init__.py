"""prunebench's public API for pruner authors: validate your own class from your own tests.

``parametrize_with_checks`` runs the generic checks (``prunebench check``'s) inside a user's test
file; a class raises ``Unsupported`` for a configuration it does not support, and the check is then
counted as unsupported rather than failed. ``OneShotPruner`` (or ``pruner_of_class``) wraps a one-shot
pruner for the one-shot suite (``--backend`` a module with ``oneshot_pruners = [...]``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prunebench.harness.errors import UnsupportedError as Unsupported

if TYPE_CHECKING:  # for type checkers and editors; at run time they come from __getattr__
    from prunebench.checking import parametrize_with_checks
    from prunebench.harness.oneshot import OneShotPruner, OneShotTags, SparsityPattern, pruner_of_class

__all__ = [
    "OneShotPruner",
    "OneShotTags",
    "SparsityPattern",
    "Unsupported",
    "parametrize_with_checks",
    "pruner_of_class",
]
_LAZY = {
    "parametrize_with_checks": "prunebench.checking",
    "OneShotPruner": "prunebench.harness.oneshot",
    "OneShotTags": "prunebench.harness.oneshot",
    "SparsityPattern": "prunebench.harness.oneshot",
    "pruner_of_class": "prunebench.harness.oneshot",
}
"""Names imported on first use: importing ``prunebench`` (which every pytest run in the environment does,
through the plugin's entry point) must not import torch."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
