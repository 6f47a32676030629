"""What the zoo's broken backends share: the reference's structured names, which pass every zoo check.

Each module star-imports this and redefines ``SaliencyPruner`` with one bug in ``prune()``; the
reference is the control that passes the same runs. Their file names start with ``_zoo_`` so that
``tests/test_broken_backends.py``'s table (one record per ``tests/broken`` module, run on the layer-chain
suites) does not list them; ``tests/test_zoo_broken.py`` runs them on the zoo.
"""

from __future__ import annotations

from prunebench.reference_impl import BaseStructuredSparsifier, FakeStructuredSparsity, SaliencyPruner

__all__ = ["BaseStructuredSparsifier", "FakeStructuredSparsity", "SaliencyPruner"]
