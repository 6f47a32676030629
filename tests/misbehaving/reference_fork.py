"""A fork of the reference that kept ``name = "reference"``, with a bug in its NearlyDiagonalSparsifier's band.

The differential checks must check it (their oracle is the reference module by identity, not by name).
"""

from __future__ import annotations

from tests.broken import nd_band_strict

from ._reference import *  # noqa: F403

name = "reference"
NearlyDiagonalSparsifier = nd_band_strict.NearlyDiagonalSparsifier  # the bug (after the star import)
