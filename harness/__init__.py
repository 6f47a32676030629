"""prunebench's harness: backends, the device matrix, expected failures, scoreboard and pytest plugin."""

from __future__ import annotations

__version__ = "0.1.0"
