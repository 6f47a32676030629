"""The one-shot contract: what every one-shot pruner owes, whatever its rule, as plain functions of a case.

Every check holds for any correct one-shot pruner at any pattern; the ones that depend on what a pruner
declares (``harness.oneshot.OneShotTags``) say so and are *not applicable* to the others:

- each targeted Linear layer reaches the pattern's level (within one weight per output row: a rule may
  round once per row), keeping its shape, dtype and device;
- nothing else changes: every other parameter and buffer (the ignored layers, biases, norms, embeddings)
  stays bit-identical, and no hook or parametrization is left on the model;
- N:M: every run of ``m`` consecutive inputs of every row keeps at most ``n`` weights;
- the same model, calibration batches and seed give the same weights, bit for bit;
- a later pass of the pruner, further (75% after 50% or 2:4), revives no weight the first pass pruned;
- calibration-based pruners: every layer reconstructs its outputs on the calibration inputs,
  ``||W X - W' X||``, no worse than one-shot magnitude at the same pattern (what they exist for), and
  pruning without calibration data is an error, not a silent guess;
- pruners that update weights (SparseGPT): the update lowers each layer's reconstruction error below that
  of its own mask on the dense weights; pruners that do not: kept weights stay bit-identical;
- a calibration set too small for a full-rank Hessian still gives finite weights at the level;
- the pruned model saves and loads (``save_pretrained`` / ``from_pretrained`` for a transformers model,
  a strict ``load_state_dict`` into a fresh model otherwise) and runs in float16 and bfloat16.
"""

from __future__ import annotations

import copy
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial

import torch
from prunebench.harness.errors import NotApplicableError
from prunebench.harness.oneshot import SparsityPattern
from torch import nn
from torch.nn.utils import parametrize

from .checks import must_raise
from .oneshot_cases import Case, PrunedCase, pruned_case

HALF_DTYPES = (torch.float16, torch.bfloat16)
RELOAD_ROUNDINGS = 4
"""How many of the dtype's ``eps`` (relative to the largest output) a reloaded model's outputs may differ by."""
CALIBRATION_ERRORS = (RuntimeError, ValueError)
"""What pruning without calibration data may raise: a missing input (RuntimeError, as step() before a forward
pass of torch's calibrated sparsifiers) or a bad argument (ValueError, an empty data set)."""
ERROR_SLACK = 1e-6
"""Relative slack on reconstruction-error comparisons: float64 rounding of two equal errors, nothing more."""


def weights(model: nn.Module, layers: list[str]) -> dict[str, torch.Tensor]:
    return {fqn: model.get_submodule(fqn).weight.detach() for fqn in layers}


def tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer by name (non-persistent buffers too)."""
    return {name: t.detach() for name, t in [*model.named_parameters(), *model.named_buffers()]}


def layer_inputs(model: nn.Module, layers: list[str], batches: list) -> dict[str, torch.Tensor]:
    """Every input row each layer saw on ``batches`` (float64, ``samples x in_features``)."""
    rows: dict[str, list[torch.Tensor]] = {fqn: [] for fqn in layers}

    def recorder(fqn: str):
        return lambda module, args: rows[fqn].append(args[0].detach().reshape(-1, args[0].shape[-1]).double())

    handles = [model.get_submodule(fqn).register_forward_pre_hook(recorder(fqn)) for fqn in layers]
    try:
        forward(model, batches)
    finally:
        for handle in handles:
            handle.remove()
    return {fqn: torch.cat(found) for fqn, found in rows.items()}


def forward(model: nn.Module, batches: list) -> list[torch.Tensor]:
    """The model's outputs (logits, for a transformers model) on each batch, without autograd."""
    with torch.no_grad():
        outputs = [model(batch) for batch in batches]
    return [getattr(output, "logits", output) for output in outputs]


def reconstruction_error(dense: torch.Tensor, weight: torch.Tensor, inputs: torch.Tensor) -> float:
    """``||W X - W' X||_F`` on the layer's input rows ``X``, in float64."""
    return float(((dense.detach().double() - weight.detach().double()) @ inputs.T).norm())


def each_layer(done: PrunedCase) -> Iterator[tuple[str, torch.Tensor, torch.Tensor, Callable[[torch.Tensor], float]]]:
    """For every targeted layer: its name, dense and pruned weights, and the reconstruction error of any weight
    on the inputs that layer saw in the dense model on the calibration batches."""
    inputs = layer_inputs(done.dense, done.targets, done.calibration)
    for fqn, weight in weights(done.pruned, done.targets).items():
        dense = done.dense.get_submodule(fqn).weight.detach()
        yield fqn, dense, weight, partial(reconstruction_error, dense, inputs=inputs[fqn])


def magnitude_baseline(weight: torch.Tensor, pattern: SparsityPattern) -> torch.Tensor:
    """One-shot magnitude at ``pattern``: the lowest ``|W|`` of the whole layer, or of every run of ``m``."""
    weight = weight.detach().double().clone()
    if pattern.m is None:
        lowest = weight.abs().flatten().topk(int(pattern.sparsity_level * weight.numel()), largest=False).indices
        return weight.flatten().index_fill(0, lowest, 0).view_as(weight)
    runs = weight.view(weight.shape[0], -1, pattern.m)
    lowest = runs.abs().topk(pattern.m - pattern.n, dim=-1, largest=False).indices
    return runs.scatter(-1, lowest, 0).view_as(weight)


# -- what the pruned model is --------------------------------------------------------------------------


def targeted_layers_reach_the_level(case: Case) -> None:
    _assert_level(pruned_case(case))


def _assert_level(done: PrunedCase) -> None:
    case, pattern = done.case, done.case.pattern
    for fqn, weight in weights(done.pruned, done.targets).items():
        dense = done.dense.get_submodule(fqn).weight
        kept_form = (weight.shape, weight.dtype, weight.device) == (dense.shape, dense.dtype, dense.device)
        assert kept_form, (
            f"{fqn}.weight is {tuple(weight.shape)} {weight.dtype} on {weight.device} after pruning, was "
            f"{tuple(dense.shape)} {dense.dtype} on {dense.device} ({case.what})"
        )
        zeros, expected, tolerance = int((weight == 0).sum()), pattern.sparsity_level * weight.numel(), weight.shape[0]
        assert abs(zeros - expected) <= tolerance, (
            f"{fqn}.weight has {zeros} zeros ({zeros / weight.numel():.2%}), expected {expected:g} "
            f"({pattern.sparsity_level:.0%} of {weight.numel()}) within {tolerance} (one weight per output row) "
            f"({case.what})"
        )


def _attachments(model: nn.Module) -> dict[str, str]:
    """What is hooked onto or parametrizes each module (forward hooks, pre-hooks, parametrizations)."""
    found = {}
    for name, module in model.named_modules():
        hooks = len(module._forward_hooks) + len(module._forward_pre_hooks)
        parametrized = parametrize.is_parametrized(module)
        if hooks or parametrized:
            found[name or "(root)"] = f"{hooks} hook(s)" + (", parametrizations" if parametrized else "")
    return found


def nothing_else_changes(case: Case) -> None:
    done = pruned_case(case)
    before, after = tensors(done.dense), tensors(done.pruned)
    assert before.keys() == after.keys(), (
        f"pruning changed the model's parameters and buffers: added {sorted(after.keys() - before.keys())}, "
        f"removed {sorted(before.keys() - after.keys())} ({case.what})"
    )
    targeted = {f"{fqn}.weight" for fqn in done.targets}
    changed = [name for name in sorted(before.keys() - targeted) if not _identical(before[name], after[name])]
    described = [_describe_change(name, after[name], case.model.ignore) for name in changed]
    assert not changed, f"pruning changed tensors it does not target: {described} ({case.what})"
    left = {
        name: what for name, what in _attachments(done.pruned).items() if _attachments(done.dense).get(name) != what
    }
    assert not left, f"pruning left hooks or parametrizations on the model: {left} ({case.what})"


def _identical(before: torch.Tensor, after: torch.Tensor) -> bool:
    return before.dtype == after.dtype and before.device == after.device and torch.equal(before, after)


def _describe_change(name: str, tensor: torch.Tensor, ignore: tuple[str, ...]) -> str:
    owner = next((module for module in ignore if name.startswith(f"{module}.")), None)
    zeros = f"{float((tensor == 0).double().mean()):.1%} zeros now"
    return f"{name} ({zeros}; {owner!r} is in the ignore list)" if owner else f"{name} ({zeros})"


def n_of_m_holds_along_inputs(case: Case) -> None:
    pattern = case.pattern
    if pattern.m is None:
        raise NotApplicableError(f"{pattern.label} is unstructured: no N:M runs to check")
    done = pruned_case(case)
    for fqn, weight in weights(done.pruned, done.targets).items():
        rows, columns = weight.shape
        runs = (weight != 0).reshape(rows, columns // pattern.m, pattern.m).sum(-1)
        broken = (runs > pattern.n).nonzero().tolist()
        if broken:
            row, run = broken[0]
            raise AssertionError(
                f"{fqn}.weight keeps {int(runs[row, run])} of {pattern.m} weights in row {row}, inputs "
                f"{run * pattern.m}..{run * pattern.m + pattern.m - 1} ({len(broken)} of {runs.numel()} runs break "
                f"{pattern.label}: at most {pattern.n} nonzeros in every run of {pattern.m} consecutive inputs of a "
                f"row) ({case.what})"
            )


# -- how the pruner behaves --------------------------------------------------------------------------


def prune_is_deterministic(case: Case) -> None:
    """The case's shared run against a fresh one under the same seed (``Case.prune``)."""
    done = pruned_case(case)
    again = case.prune(case.dense())
    for fqn, weight in weights(done.pruned, done.targets).items():
        other = again.get_submodule(fqn).weight
        differ, pruned_once = int((weight != other).sum()), int(((weight == 0) != (other == 0)).sum())
        assert not differ, (
            f"two prunes of the same model with the same calibration batches and seed differ in {fqn}.weight at "
            f"{differ} of {weight.numel()} positions ({pruned_once} of them pruned in one run only) ({case.what})"
        )


def later_pass(pattern: SparsityPattern) -> SparsityPattern:
    """The pattern of a second, gradual pass: unstructured, halfway from ``pattern``'s level to 1 (50% -> 75%)."""
    return SparsityPattern.unstructured((1 + pattern.sparsity_level) / 2)


def later_pass_revives_nothing(case: Case) -> None:
    """A second pass (the same pruner, further) keeps every weight the first pruned at zero: in a pruner that
    updates weights, the first pass's zeros receive updates from the columns pruned before them."""
    done = pruned_case(case)
    second = replace(case, pattern=later_pass(case.pattern))
    again = second.prune(copy.deepcopy(done.pruned), done.calibration)
    for fqn, weight in weights(done.pruned, done.targets).items():
        revived = ((weight == 0) & (again.get_submodule(fqn).weight != 0)).nonzero().tolist()
        assert not revived, (
            f"a second pass of {case.pruner.name} at {second.pattern.label} revived {len(revived)} weights of "
            f"{fqn}.weight that the first pass (at {case.pattern.label}) pruned, e.g. {tuple(revived[0])} "
            f"({case.what})"
        )


def calibration_beats_magnitude(case: Case) -> None:
    if not case.pruner.tags.calibration:
        raise NotApplicableError(f"{case.pruner.name} declares no calibration: magnitude is what it may be")
    for fqn, dense, weight, error_of in each_layer(pruned_case(case)):
        error, baseline = error_of(weight), error_of(magnitude_baseline(dense, case.pattern))
        assert error <= baseline * (1 + ERROR_SLACK), (
            f"{fqn} reconstructs its calibration outputs worse than one-shot magnitude at {case.pattern.label}: "
            f"||W X - W' X|| = {error:.6g}, magnitude's {baseline:.6g} ({error / baseline:.3f}x) ({case.what})"
        )


def weight_update_pays(case: Case) -> None:
    """Pruners that update kept weights: the update must lower the error below that of the mask alone;
    mask-only pruners: kept weights stay exactly the dense ones."""
    for fqn, dense, weight, error_of in each_layer(pruned_case(case)):
        masked = torch.where(weight != 0, dense, 0)
        if not case.pruner.tags.updates_weights:
            differ = int((weight != masked).sum())
            assert not differ, (
                f"{case.pruner.name} declares no weight update (prunebench_tags 'updates_weights'), but "
                f"{differ} kept weights of {fqn}.weight differ from the dense ones ({case.what})"
            )
            continue
        error, mask_only = error_of(weight), error_of(masked)
        assert error < mask_only, (
            f"{fqn}: the weight update does not lower the reconstruction error: ||W X - W' X|| = {error:.6g} with "
            f"the update, {mask_only:.6g} with the same mask on the dense weights; {case.pruner.name} declares "
            f"'updates_weights' ({case.what})"
        )


def needs_calibration_data(case: Case) -> None:
    if not case.pruner.tags.calibration:
        raise NotApplicableError(f"{case.pruner.name} declares no calibration")
    pruned_case(case)  # a case the pruner does not support is unsupported here too, not a missing error
    symptom = f"{case.pruner.name} pruned without a single calibration batch, raising no error ({case.what})"
    with must_raise(CALIBRATION_ERRORS, symptom):
        case.prune(case.dense(), [])


def scarce_calibration_stays_finite(case: Case) -> None:
    targets = pruned_case(case).targets  # a case the pruner does not support is unsupported here too
    scarce = case.model.scarce_batches(case.device, case.dtype)
    try:
        model = case.prune(case.dense(), scarce)
    except Exception as error:
        raise AssertionError(
            f"pruning failed on a calibration set too small for a full-rank Hessian (dampening exists for that): "
            f"{type(error).__name__}: {error} ({case.what})"
        ) from error
    done = PrunedCase(case, case.dense(), model, scarce, targets)
    for fqn, weight in weights(model, targets).items():
        bad = int((~weight.isfinite()).sum())
        assert not bad, (
            f"{fqn}.weight holds {bad} inf/NaN values after pruning on a calibration set too small for a "
            f"full-rank Hessian (dampening exists for that) ({case.what})"
        )
    _assert_level(done)


# -- the pruned model's life -------------------------------------------------------------------------


def saves_and_loads(case: Case) -> None:
    """Every saved tensor comes back bit-identical, and the reloaded model computes the pruned model's outputs
    within ``RELOAD_ROUNDINGS`` of the dtype (a reloaded model recomputes its unsaved buffers: a Llama's rotary
    frequencies come back in float32 where ``.to(float16)`` had rounded them)."""
    done = pruned_case(case)
    reloaded = _reloaded(done)
    saved = reloaded.state_dict()
    for name, tensor in done.pruned.state_dict().items():
        other = saved.get(name)
        assert other is not None and torch.equal(tensor, other.to(tensor.device)), (
            f"{name} differs after saving and loading the pruned model ({case.what})"
        )
    held_out = case.model.batches(case.device, case.dtype, "held-out")
    for output, other in zip(forward(done.pruned, held_out), forward(reloaded, held_out), strict=True):
        tolerance = RELOAD_ROUNDINGS * torch.finfo(output.dtype).eps * float(output.abs().max())
        worst = float((output - other).abs().max())
        assert worst <= tolerance, (
            f"the reloaded pruned model computes other outputs: up to {worst:.3g} apart, beyond {tolerance:.3g} "
            f"({case.what})"
        )


def _reloaded(done: PrunedCase) -> nn.Module:
    """The pruned model after a round trip through disk: ``save_pretrained`` / ``from_pretrained``, or
    ``torch.save`` of its state_dict loaded (weights only, strict) into a fresh model of its architecture."""
    case = done.case
    if case.model.transformers:
        with tempfile.TemporaryDirectory() as directory:
            done.pruned.save_pretrained(directory)
            return type(done.pruned).from_pretrained(directory, dtype=case.dtype).to(case.device).eval()
    buffer = io.BytesIO()
    torch.save(done.pruned.state_dict(), buffer)
    buffer.seek(0)
    fresh = case.dense()
    try:
        fresh.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    except Exception as error:
        raise AssertionError(f"the pruned model's state_dict does not load into a fresh model: {error}") from error
    return fresh


def runs_in_half_precision(case: Case) -> None:
    done = pruned_case(case)
    held_out = case.model.batches(case.device, torch.float32, "held-out")
    for dtype in HALF_DTYPES:
        model = copy.deepcopy(done.pruned).to(dtype)
        batches = [batch.to(dtype) if batch.is_floating_point() else batch for batch in held_out]
        try:
            outputs = forward(model, batches)
        except Exception as error:
            raise AssertionError(f"the pruned model does not run in {dtype}: {error} ({case.what})") from error
        bad = sum(int((~output.isfinite()).sum()) for output in outputs)
        assert not bad, f"the pruned model computes {bad} inf/NaN outputs in {dtype} ({case.what})"


ONESHOT_CHECKS = (
    targeted_layers_reach_the_level,
    nothing_else_changes,
    n_of_m_holds_along_inputs,
    prune_is_deterministic,
    later_pass_revives_nothing,
    calibration_beats_magnitude,
    weight_update_pays,
    needs_calibration_data,
    scarce_calibration_stays_finite,
    saves_and_loads,
    runs_in_half_precision,
)
"""Every check of the one-shot contract: plain functions of a ``Case``, in the order the module states them."""
