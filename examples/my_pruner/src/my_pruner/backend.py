"""The prunebench backend of my_pruner: which contract names it provides, under which names.

prunebench reads these module attributes: the contract names it finds (the rest are reported as
*unsupported*), plus ``name``, ``version`` and ``xfails`` (known failures, as data).
"""

from __future__ import annotations

from pathlib import Path

from torch.ao.pruning import BaseSparsifier, FakeSparsity

from . import BandSparsifier as NearlyDiagonalSparsifier

name = "my_pruner"
version = "0.1.0"
xfails = Path(__file__).with_name("known_failures.txt")

__all__ = ["BaseSparsifier", "FakeSparsity", "NearlyDiagonalSparsifier"]
