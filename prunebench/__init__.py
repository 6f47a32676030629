"""prunebench's public API for pruner authors: validate your own class from your own tests.

``parametrize_with_checks`` runs the generic checks (``prunebench check``'s) inside a user's test
file; a class raises ``Unsupported`` for a configuration it does not support, and the check is then
counted as unsupported rather than failed. ``OneShotPruner`` (or ``pruner_of_class``) wraps a one-shot
pruner for the one-shot suite (``--backend`` a module with ``oneshot_pruners = [...]``).
"""

from __future__ import annotations

from prunebench.harness.errors import UnsupportedError as Unsupported
from prunebench.harness.oneshot import OneShotPruner, OneShotTags, SparsityPattern, pruner_of_class

from .checking import parametrize_with_checks

__all__ = [
    "OneShotPruner",
    "OneShotTags",
    "SparsityPattern",
    "Unsupported",
    "parametrize_with_checks",
    "pruner_of_class",
]
