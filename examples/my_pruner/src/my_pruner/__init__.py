"""my_pruner: an example third-party sparsifier package (see prunebench's README tutorial)."""

from .banded import BandSparsifier

__all__ = ["BandSparsifier"]
