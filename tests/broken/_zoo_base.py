"""What the zoo's broken backends share: the torch-pruning adapter, which passes the zoo checks they break.

The zoo's broken backends are built on the torch-pruning adapter because it is what prunes the zoo
today: on ResNet its pruned model loses parameters, trains and exports (it fails only pruned ==
masked, a classified contract difference), so a broken copy failing one of those checks is caught
for its bug. Each module star-imports this and redefines ``SaliencyPruner``. Their file names start
with ``_zoo_`` so that ``tests/test_broken_backends.py``'s table of reference-based backends does
not list them; ``tests/test_zoo_broken.py`` runs them.
"""

from __future__ import annotations

from harness.backends.torch_pruning_adapter import BaseStructuredSparsifier, FakeStructuredSparsity, SaliencyPruner

__all__ = ["BaseStructuredSparsifier", "FakeStructuredSparsity", "SaliencyPruner"]
