"""prunebench's public API for pruner authors: validate your own class from your own tests.

``parametrize_with_checks`` runs the generic checks (``prunebench check``'s) inside a user's test
file; a class raises ``Unsupported`` for a configuration it does not support, and the check is then
counted as unsupported rather than failed.
"""

from __future__ import annotations

from typing import Any

from prunebench.harness.errors import UnsupportedError as Unsupported

__all__ = ["Unsupported", "parametrize_with_checks"]


def __getattr__(name: str) -> Any:
    """``parametrize_with_checks`` on first use: importing ``prunebench`` (which every pytest run in the
    environment does, through the plugin's entry point) must not import torch."""
    if name == "parametrize_with_checks":
        from .checking import parametrize_with_checks

        return parametrize_with_checks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
