"""A recording table that writes ``F.layer_norm`` down as ``relu``.

BUG: ``flow`` then takes a LayerNorm over channels for an element-wise op that keeps masked channels at
zero, where export's graph shows a ``layer_norm`` that mixes them: a plan that prunes what it must not.
``tests/test_reference_graph_recording.py`` must see the recorded plan differ from the exported one.
The leading underscore keeps it out of ``tests/test_broken_backends.py``'s table.
"""

from __future__ import annotations

import torch.nn.functional as F
from prunebench.reference_impl.structured.graph.functions import OPS as REFERENCE_OPS
from prunebench.reference_impl.structured.graph.functions import Call, Op, aten

OPS = {**REFERENCE_OPS, F.layer_norm: Op(lambda input, *args, **kwargs: Call(aten("relu"), (input,)))}
