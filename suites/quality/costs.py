"""What a pruned model keeps: nonzero weights of the configured layers, parameters, nonzero parameters, MACs.

The level a method is asked for is not what it delivers (rounding rules differ, structured pruners
remove coupled channels or leave layers whole), so every result records what was reached, measured
on the model the method returned. MACs are ``FlopCounterMode``'s count of one forward at batch 1
(the zoo's counter, ``suites/zoo/costs.py``): dense kernels, so unstructured zeros do not lower them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from ..zoo.costs import macs, parameter_count
from .tasks import ExampleInputs


@dataclass(frozen=True)
class Compression:
    """Counts of one model; ratios against the dense model's counts are taken by the reports."""

    layer_weights: int
    """Nonzero entries of the configured layers' weights."""
    parameters: int
    nonzero_parameters: int
    macs: int


def layer_weights(model: nn.Module, layers: Sequence[str]) -> int:
    """Nonzero weight entries of the configured layers still in ``model`` (a removed layer keeps none)."""
    total = 0
    for fqn in layers:
        try:
            total += int(model.get_submodule(fqn).weight.count_nonzero())
        except AttributeError:
            continue
    return total


def measure(model: nn.Module, layers: Sequence[str], inputs: ExampleInputs) -> Compression:
    return Compression(
        layer_weights=layer_weights(model, layers),
        parameters=parameter_count(model),
        nonzero_parameters=sum(int(p.count_nonzero()) for p in model.parameters()),
        macs=macs(model, inputs),
    )
