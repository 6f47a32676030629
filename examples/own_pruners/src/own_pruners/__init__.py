"""own_pruners: a user's own pruners under their own names (prunebench's second tutorial).

No class is named like a ``torch.ao.pruning`` class, so they are validated with ``prunebench check
own_pruners:MagnitudeSparsifier`` and ``parametrize_with_checks`` (see tests/).
"""

from .filters import L1FilterPruner
from .gradual import GradualMagnitudeSparsifier
from .magnitude import MagnitudeSparsifier
from .rows import L1RowPruner

__version__ = "0.1.0"
__all__ = ["GradualMagnitudeSparsifier", "L1FilterPruner", "L1RowPruner", "MagnitudeSparsifier"]
