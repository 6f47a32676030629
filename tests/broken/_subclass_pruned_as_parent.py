"""A structured pruner that prunes a subclass with its own forward as if it were its parent layer.

BUG: ``prepare`` masks a ``ScaledLinear`` / ``ScaledConv2d`` (whose forward multiplies each output by a
per-channel scale) and ``prune()`` cuts its rows as a Linear / Conv2d would, leaving the scale whole:
the pruned forward breaks, or (on the graph path, whose check on the cut refuses it) the layer is
left whole with a mask and without the reason a user needs. ``check_subclasses`` in
``tests/test_reference_layer_subclasses.py`` must catch it. The leading underscore keeps it out of
``tests/test_broken_backends.py``'s table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prunebench.reference_impl.structured import masks
from torch import nn

from prunebench import reference_impl


@contextmanager
def _every_subclass_as_its_parent() -> Iterator[None]:
    computes_as = masks._computes_as
    masks._computes_as = lambda cls, kind: True
    try:
        yield
    finally:
        masks._computes_as = computes_as


class SaliencyPruner(reference_impl.SaliencyPruner):
    def _without_overriding_layers(self, model: nn.Module, config: Any) -> tuple[Any, dict[str, str]]:
        return config, {}

    def prepare(self, model: nn.Module, config: Any, *, example_inputs: Any = None) -> None:
        with _every_subclass_as_its_parent():
            super().prepare(model, config, example_inputs=example_inputs)

    def step(self, use_path: bool = True) -> None:
        with _every_subclass_as_its_parent():
            super().step(use_path)

    def prune(self, example_inputs: Any = None) -> nn.Module:
        with _every_subclass_as_its_parent():
            return super().prune(example_inputs)
