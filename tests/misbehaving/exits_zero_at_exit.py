"""Ends the process with status 0 at exit (``atexit.register(os._exit, 0)``), and has a band bug that fails tests."""

from __future__ import annotations

import atexit
import os

from tests.broken import nd_band_strict

from ._reference import *  # noqa: F403

name = "exits-zero-at-exit"
atexit.register(os._exit, 0)
NearlyDiagonalSparsifier = nd_band_strict.NearlyDiagonalSparsifier  # the bug (after the star import)
