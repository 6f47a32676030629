"""Turns every warning into an exception when imported (``warnings.simplefilter("error")``), for whatever runs next."""

from __future__ import annotations

import warnings

from ._reference import *  # noqa: F403

name = "warnings-error"
warnings.simplefilter("error")
