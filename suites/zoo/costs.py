"""What a model costs to run: parameters, and multiply-accumulates counted two independent ways.

``FlopCounterMode`` counts every aten op's FLOPs, attention matmuls included; a MAC is two FLOPs.
Torch-Pruning's ``count_ops_and_params`` counts per-layer forward hooks, so matmuls between
activations (attention scores) are missing from it: the zoo reports both and their difference.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .models import ExampleInputs

FLOPS_PER_MAC = 2


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs(model: nn.Module, inputs: ExampleInputs) -> int:
    """Multiply-accumulates of one forward, as torch's ``FlopCounterMode`` counts them (FLOPs / 2)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs)
    return counter.get_total_flops() // FLOPS_PER_MAC


def torch_pruning_macs(model: nn.Module, inputs: ExampleInputs) -> int | None:
    """MACs by Torch-Pruning's ``count_ops_and_params`` (layer hooks), or None when it is not installed or fails."""
    try:
        tp = importlib.import_module("torch_pruning")
    except ImportError:
        return None
    try:
        with torch.no_grad():
            counted, _ = tp.utils.count_ops_and_params(model, inputs)
    except Exception:  # its counter traces with hooks: report "n/a" for a model it cannot run, not crash the run
        return None
    return int(counted)
