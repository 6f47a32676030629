"""prunebench's public API for pruner authors: validate your own class from your own tests.

``parametrize_with_checks`` runs the generic checks (``prunebench check``'s) inside a user's test
file; a class raises ``Unsupported`` for a configuration it does not support, and the check is then
counted as unsupported rather than failed.
"""

from __future__ import annotations

from prunebench.harness.errors import UnsupportedError as Unsupported

from .checking import parametrize_with_checks

__all__ = ["Unsupported", "parametrize_with_checks"]
