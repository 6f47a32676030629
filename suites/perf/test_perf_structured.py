"""Structured pruning on a deep MLP and a conv stack: prepare, step, prune(), and inference before/after."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from .workloads import conv_input, conv_stack, deep_mlp, mlp_input

MODELS = {"mlp64": (deep_mlp, 64, mlp_input), "conv16": (conv_stack, 16, conv_input)}
SPARSITY = 0.5
DEPTHS = (16, 64, 256)
"""MLP depths of the scaling case: prune() should take time linear in the number of layers."""


def _prepared(backend, build, depth: int, device: str, stepped: bool) -> tuple[Any, torch.nn.Module]:
    model = build(depth, device).eval()
    pruner = backend.get("SaliencyPruner")({"sparsity_level": SPARSITY})
    config = [{"tensor_fqn": f"{index}.weight"} for index in range(0, 2 * depth - 2, 2)]  # all but the last layer
    pruner.prepare(model, config)
    if stepped:
        pruner.step()
    return pruner, model


@pytest.mark.requires("SaliencyPruner")
@pytest.mark.parametrize("operation", ["prepare", "step", "prune"])
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_structured_operation(backend, device, model_name, operation, measure):
    build, depth, _ = MODELS[model_name]

    def fresh() -> tuple[Any, ...]:
        if operation == "prepare":
            model = build(depth, device).eval()
            pruner = backend.get("SaliencyPruner")({"sparsity_level": SPARSITY})
            config = [{"tensor_fqn": f"{index}.weight"} for index in range(0, 2 * depth - 2, 2)]
            return pruner, model, config
        pruner, model = _prepared(backend, build, depth, device, stepped=operation == "prune")
        return pruner, model, None

    targets = {
        "prepare": lambda pruner, model, config: pruner.prepare(model, config),
        "step": lambda pruner, model, config: pruner.step(),
        "prune": lambda pruner, model, config: pruner.prune(),
    }
    measure(operation, fresh, targets[operation], model=model_name, depth=depth)


@pytest.mark.requires("SaliencyPruner")
@pytest.mark.parametrize("depth", DEPTHS, ids=lambda depth: f"mlp{depth}")
def test_prune_depth_scaling(backend, device, depth, measure):
    """prune() of 16, 64 and 256-layer MLPs: the time per layer should stay flat (linear in depth)."""
    measure(
        "prune_depth",
        lambda: _prepared(backend, deep_mlp, depth, device, stepped=True),
        lambda pruner, model: pruner.prune(),
        model=f"mlp{depth}",
        depth=depth,
    )


def _flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


@pytest.mark.requires("SaliencyPruner")
@pytest.mark.parametrize("variant", ["dense", "masked", "pruned"])
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_inference(backend, device, model_name, variant, measure, benchmark):
    build, depth, make_input = MODELS[model_name]
    x = make_input(device)
    dense = build(depth, device).eval()
    dense_flops = _flops(dense, x)
    if variant == "dense":
        model = dense
    else:
        pruner, model = _prepared(backend, build, depth, device, stepped=True)
        if variant == "pruned":
            model = pruner.prune()
    flops = _flops(model, x)

    def run(model: torch.nn.Module) -> None:
        with torch.no_grad():
            model(x)

    measure(f"inference_{variant}", lambda: (model,), run, model=model_name, depth=depth)
    benchmark.extra_info.update({"flops": flops, "flop_ratio": flops / dense_flops})
