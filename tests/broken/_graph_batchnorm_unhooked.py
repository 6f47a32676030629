"""Graph pruning that takes masked channels after a BatchNorm for zeros without making them so.

``prepare`` drops the ``ChannelMaskHook``s (BUG: the masked model's BatchNorm adds its shift to the
masked channels) and ``prune`` cuts without checking the cut (BUG: nothing notices). On ResNet the
pruned model then differs from the masked one, which ``test_zoo_pruned_equals_masked`` must catch.
The leading underscore keeps it out of ``tests/test_broken_backends.py``'s table of fx-chain bugs;
``tests/test_reference_graph_pruning.py`` runs it.
"""

from __future__ import annotations

from typing import Any

from prunebench.reference_impl.structured.graph import decide, finish
from prunebench.reference_impl.structured.graph.masking import ChannelMaskHook
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-_graph_batchnorm_unhooked"


class SaliencyPruner(reference_impl.SaliencyPruner):
    def prepare(self, model: nn.Module, config: Any, *, example_inputs: Any = None) -> None:
        super().prepare(model, config, example_inputs=example_inputs)
        for module in model.modules():
            for key, hook in list(module._forward_hooks.items()):
                if isinstance(hook, ChannelMaskHook):
                    del module._forward_hooks[key]

    def _prune_graph(self, masked: list[str]) -> nn.Module:
        graph, self.graph = self.graph, None
        drops, _ = decide(graph.plan, self.model)
        finish(self.model, masked, drops)
        return self.model
