"""What every misbehaving backend shares: the reference's names, re-exported as they are."""

from __future__ import annotations

from prunebench.harness.api import KNOWN_NAMES

from prunebench import reference_impl

__all__ = [name for name in KNOWN_NAMES if hasattr(reference_impl, name)]
globals().update({name: getattr(reference_impl, name) for name in __all__})
