"""The last guard of ``prune()``: the pruned model must compute what the masked model computes.

The analysis in ``flow`` is conservative, but it reasons about ops, and a model may use a module
attribute in a way no graph shows (a head count read from a config object, say). So the masked
model's outputs on the example inputs are kept, the cuts are made, and the pruned model runs on the
same inputs, in eval mode; a cut whose output differs is undone (``apply.Journal``) and its groups
are left whole instead: never a wrong model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils import _pytree


def _outputs(model: nn.Module, inputs: tuple) -> list[torch.Tensor]:
    """The model's tensor outputs, the random number generators seeded alike for every run and restored after.

    Only the generators of the devices in use are forked and seeded: ``torch.manual_seed`` would also queue
    a seed for every lazily initialised backend, with a stack trace each, milliseconds per call.
    """
    devices = sorted({x.device.index or 0 for x in _pytree.tree_leaves(inputs) if _on_cuda(x)})
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(0)
        for device in devices:
            torch.cuda.default_generators[device].manual_seed(0)
        output = model(*inputs)
    return [leaf for leaf in _pytree.tree_leaves(output) if isinstance(leaf, torch.Tensor)]


def _on_cuda(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "cuda"


def _tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance: float32 rounding of reordered sums, looser for half precision."""
    return 1e-4 if dtype in (torch.float32, torch.float64) else 2e-2


def max_difference(expected: Sequence[torch.Tensor], actual: Sequence[torch.Tensor]) -> float | None:
    """The largest scaled difference between two output lists, or None when they match."""
    if len(expected) != len(actual):
        return float("inf")
    worst = 0.0
    for want, got in zip(expected, actual, strict=True):
        if want.shape != got.shape:
            return float("inf")
        if not want.is_floating_point():
            if not torch.equal(want, got):
                return float("inf")
            continue
        scale = float(want.detach().abs().max()) if want.numel() else 0.0
        diff = float((want.detach().double() - got.detach().double()).abs().max()) if want.numel() else 0.0
        if diff > _tolerance(want.dtype) * max(scale, 1.0):
            worst = max(worst, diff)
    return worst or None


class EvalMode:
    """Context manager: every module of ``model`` in eval mode inside, its own flags restored after."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.flags: dict[nn.Module, bool] = {}

    def __enter__(self) -> nn.Module:
        self.flags = {module: module.training for module in self.model.modules()}
        self.model.eval()
        return self.model

    def __exit__(self, *exc: object) -> None:
        for module, flag in self.flags.items():
            module.training = flag


def failure(pruned: nn.Module, inputs: tuple, expected: list[torch.Tensor]) -> str | None:
    """Why the ``pruned`` model (in eval mode) does not reproduce ``expected``, or None."""
    try:
        actual = _outputs(pruned, inputs)
    except Exception as error:  # the cut model failing to run is exactly what this guard is for
        return f"the pruned model failed to run ({type(error).__name__}: {error})"
    difference = max_difference(expected, actual)
    if difference is None:
        return None
    return f"the pruned model differed from the masked model by {difference:.3g} on the example inputs"


def masked_outputs(model: nn.Module, inputs: tuple) -> list[torch.Tensor]:
    """The masked model's outputs on ``inputs`` (run in eval mode by the caller)."""
    return _outputs(model, inputs)
