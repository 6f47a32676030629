"""One zoo model through a backend's structured lifecycle: prepare, step, masked outputs, prune.

The zoo suite and the measurement both need the same run, so it lives here once. Backends whose
``prepare`` / ``prune`` take ``example_inputs`` (the reference's contract for models ``torch.fx``
cannot trace, the Torch-Pruning adapter's tracer) get the model's example inputs; torch's do not
take it, and are called exactly as torch documents them.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from prunebench.harness.backend import Backend
from torch import nn

from ..checks import is_masked, kept, mask_of
from ..structured_checks import parameter_count
from .models import ExampleInputs, ZooModel, build_model, example_inputs, model_output, prunable_config

SPARSITY_LEVELS: tuple[float, ...] = (0.3, 0.5)
"""The levels the zoo prunes every model at: the issue's 30%, and half."""


def accepts_example_inputs(method: Callable[..., object]) -> bool:
    """Whether ``method`` takes an ``example_inputs`` keyword (torch.ao.pruning's prepare / prune do not)."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "example_inputs" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def with_inputs(method: Callable[..., object], inputs: ExampleInputs) -> dict[str, ExampleInputs]:
    """``{"example_inputs": inputs}`` for a method that takes them, else no keywords."""
    return {"example_inputs": inputs} if accepts_example_inputs(method) else {}


@dataclass
class ZooPruning:
    """A zoo model pruned by one backend, with what the checks compare it against."""

    record: ZooModel
    sparsity_level: float
    inputs: ExampleInputs  # on the device; floating inputs in the dtype
    dense: nn.Module  # a copy taken before prepare
    dense_output: torch.Tensor
    masked_output: torch.Tensor | None  # None: the backend left no mask this suite can read
    masked_layers: int  # configured layers carrying a mask after step()
    zeroed_rows: int  # rows the masks cleared, over every configured layer
    parameters_before: int
    pruned: nn.Module


def _inputs_on(inputs: ExampleInputs, device: str, dtype: torch.dtype) -> ExampleInputs:
    return tuple(x.to(device, dtype) if x.is_floating_point() else x.to(device) for x in inputs)


def _mask_summary(model: nn.Module, config: list[dict[str, str]]) -> tuple[int, int]:
    """How many configured layers carry a readable mask, and how many rows those masks clear."""
    masked, zeroed = 0, 0
    for entry in config:
        module = model.get_submodule(entry["tensor_fqn"].rpartition(".")[0])
        if is_masked(module, "weight"):
            masked += 1
            zeroed += int((~kept(mask_of(module, "weight"))).sum().item())
    return masked, zeroed


def _masked_output(model: nn.Module, inputs: ExampleInputs) -> torch.Tensor:
    """The masked model's logits; a forward that fails after ``step()`` is the backend's failure, said so."""
    try:
        with torch.no_grad():
            return model_output(model, inputs)
    except Exception as error:
        raise AssertionError(
            f"the masked model's forward fails after step(): {type(error).__name__}: {error}"
        ) from error


def prune_zoo_model(
    backend: Backend, record: ZooModel, sparsity_level: float, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> ZooPruning:
    """Build the record's model, prune it with the backend's ``SaliencyPruner`` at ``sparsity_level``.

    Every exception of the backend propagates (the caller's test fails with it).
    """
    model = build_model(record).to(device, dtype)
    inputs = _inputs_on(example_inputs(record), device, dtype)
    dense = copy.deepcopy(model)
    with torch.no_grad():
        dense_output = model_output(model, inputs)
    parameters_before = parameter_count(model)
    config = prunable_config(model, record)
    pruner = backend.get("SaliencyPruner")({"sparsity_level": sparsity_level})
    pruner.prepare(model, config, **with_inputs(pruner.prepare, inputs))
    pruner.step()
    masked_layers, zeroed_rows = _mask_summary(model, config)
    masked_output = _masked_output(model, inputs) if masked_layers else None
    pruned = pruner.prune(**with_inputs(pruner.prune, inputs))
    return ZooPruning(
        record=record,
        sparsity_level=sparsity_level,
        inputs=inputs,
        dense=dense,
        dense_output=dense_output,
        masked_output=masked_output,
        masked_layers=masked_layers,
        zeroed_rows=zeroed_rows,
        parameters_before=parameters_before,
        pruned=pruned,
    )


@functools.cache
def _cached(
    backend: Backend, namespace_id: int, record: ZooModel, sparsity_level: float, device: str, dtype: torch.dtype
) -> ZooPruning | BaseException:
    """``namespace_id`` keys the cache too: two backends of one name (a self-test's) never share a result."""
    try:
        return prune_zoo_model(backend, record, sparsity_level, device, dtype)
    except Exception as error:  # kept, so every test of this case fails with the same error
        return error


def pruned_once(
    backend: Backend, record: ZooModel, sparsity_level: float, device: str, dtype: torch.dtype
) -> ZooPruning:
    """``prune_zoo_model``'s result, computed once per process and case; each caller gets its own copy.

    The zoo's checks share one pruning per (backend, model, level, device, dtype): pruning a model
    takes far longer than checking it. A pruning that raised raises the same error in every check.
    """
    result = _cached(backend, id(backend.namespace), record, sparsity_level, device, dtype)
    if isinstance(result, BaseException):
        raise result
    return copy.deepcopy(result)
