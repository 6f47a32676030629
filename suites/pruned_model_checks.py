"""Checks of a pruned model's life after ``prune()``: its parameters, training, storage, copies, saving and export.

Each check is a plain function of the pruned model (and what it is compared against) that raises
``AssertionError`` naming the module or parameter, what was found and what was expected; a check
that cannot apply for a reason outside the pruner (torch cannot export the dense model either, torch
has no kernel for the dtype) raises ``UnsupportedError``. Nothing here needs pytest, so the generic
"check any pruner" suites call the same functions. The usual order::

    before = record_model(model)                       # before prepare()
    untouched = snapshot_tensors(model, ["linear2"])   # layers outside every pruned chain
    ... prepare, step, masked = model(x), pruned = pruner.prune() ...
    check_parameters(pruned, before)                   # before any forward: a cast model may not run
    check_training_flags(pruned, before)
    check_compact_storage(pruned)
    check_untouched(pruned, untouched)
    expected = pruned(x)                               # under torch.no_grad()
    check_deepcopy(pruned, x, expected)
    check_state_dict_round_trip(pruned, x, expected)
    check_save_load(pruned, x, expected)
    check_export(pruned, x, expected, dense=dense_copy)  # dense: a copy taken before prepare()
    check_trains(pruned, x)                            # last: it changes the weights

``require_torch_kernels(model, x)`` runs the dense model first, so that a dtype torch cannot run on
the device is reported as unsupported rather than blamed on the pruner.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import torch
from prunebench.harness.errors import UnsupportedError
from torch import nn

from .checks import assert_close

STEP_FRACTION = 0.25
"""The SGD learning rate is set so that one step would remove this fraction of the loss if the loss
were linear (``lr = STEP_FRACTION * loss / |grad|^2``): a step large enough to show in bfloat16 (whose
updates round to 2^-8 of each weight) and small enough not to overshoot the curvature of a tiny net."""

TRAINING_STEPS = 3
"""SGD steps of ``check_trains``; the loss must end lower than it began (a single step may round away)."""

_MISSING_KERNEL = re.compile(r"not implemented for '\w+'|Could not run 'aten::")


@dataclass(frozen=True)
class TensorRecord:
    """How one parameter or buffer was before pruning."""

    dtype: torch.dtype
    device: torch.device
    is_parameter: bool
    requires_grad: bool


@dataclass(frozen=True)
class ModelRecord:
    """A model before ``prepare``: each tensor's kind, dtype, device and grad flag, each module's mode."""

    tensors: Mapping[str, TensorRecord]
    training: Mapping[str, bool]

    def common(self, attribute: str) -> object | None:
        """The value of ``attribute`` shared by every recorded parameter, or None when they differ."""
        values = {getattr(r, attribute) for r in self.tensors.values() if r.is_parameter}
        return values.pop() if len(values) == 1 else None


def record_model(model: nn.Module) -> ModelRecord:
    """What ``check_parameters`` and ``check_training_flags`` compare the pruned model against."""
    tensors = {
        name: TensorRecord(p.dtype, p.device, is_parameter=True, requires_grad=p.requires_grad)
        for name, p in model.named_parameters()
    }
    tensors |= {
        name: TensorRecord(b.dtype, b.device, is_parameter=False, requires_grad=False)
        for name, b in model.named_buffers()
    }
    return ModelRecord(tensors, {fqn or "<root>": m.training for fqn, m in model.named_modules()})


def snapshot_tensors(model: nn.Module, module_fqns: Iterable[str]) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer of the named modules: ``check_untouched`` compares them."""
    snapshot = {}
    for fqn in module_fqns:
        module = model.get_submodule(fqn)
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            snapshot[f"{fqn}.{name}"] = tensor.detach().clone()
    return snapshot


def _fail(problems: list[str], header: str) -> None:
    if problems:
        raise AssertionError(f"{header}: " + "; ".join(problems))


def _lookup(model: nn.Module, name: str) -> object:
    """The attribute ``name`` (``a.b.weight``) of ``model``, or a string saying what is missing."""
    module_fqn, _, attribute = name.rpartition(".")
    try:
        module = model.get_submodule(module_fqn)
    except AttributeError:
        return f"module {module_fqn!r} is gone from the pruned model"
    if not hasattr(module, attribute):
        return f"{type(module).__name__} {module_fqn or '<root>'!r} has no attribute {attribute!r} any more"
    return getattr(module, attribute)


def _tensor_problems(name: str, tensor: object, expected: TensorRecord) -> list[str]:
    if isinstance(tensor, str):
        return [f"{name}: {tensor}"]
    if not isinstance(tensor, torch.Tensor):
        return [f"{name} is a {type(tensor).__name__}, expected a tensor"]
    kind = "nn.Parameter" if expected.is_parameter else "buffer"
    found = []
    if expected.is_parameter and not isinstance(tensor, nn.Parameter):
        found.append(f"{name} is a plain {type(tensor).__name__}, expected an nn.Parameter (optimizers never see it)")
    if tensor.dtype != expected.dtype:
        found.append(f"{name} has dtype {tensor.dtype}, expected {expected.dtype} (the {kind}'s dtype before)")
    if tensor.device != expected.device:
        found.append(f"{name} is on {tensor.device}, expected {expected.device}")
    if expected.is_parameter and tensor.requires_grad != expected.requires_grad:
        found.append(f"{name} has requires_grad={tensor.requires_grad}, expected {expected.requires_grad}")
    if tensor.is_inference():
        found.append(f"{name} is an inference tensor (made under torch.inference_mode): autograd cannot train it")
    return found


def check_parameters(pruned: nn.Module, before: ModelRecord) -> None:
    """Every parameter and buffer keeps its kind, dtype, device and ``requires_grad``.

    Tensors the pruned model gained (a bias created to fold removed channels into) must match the
    dtype, device and grad flag all parameters shared before.
    """
    problems = []
    for name, expected in before.tensors.items():
        problems += _tensor_problems(name, _lookup(pruned, name), expected)
    common = [before.common(a) for a in ("dtype", "device", "requires_grad")]
    if None not in common:
        gained = TensorRecord(common[0], common[1], is_parameter=True, requires_grad=common[2])
        for name, parameter in pruned.named_parameters():
            if name not in before.tensors:
                problems += _tensor_problems(f"{name} (new)", parameter, gained)
    _fail(problems, "prune() changed the model's parameters")


def check_training_flags(pruned: nn.Module, before: ModelRecord) -> None:
    """Every module keeps its ``training`` flag (``prune()`` must not switch the model to eval or train)."""
    modules = dict(pruned.named_modules())
    problems = []
    for fqn, training in before.training.items():
        module = pruned if fqn == "<root>" else modules.get(fqn)
        if module is not None and module.training != training:
            problems.append(f"{fqn} is in {_mode(module.training)} mode, was in {_mode(training)} mode")
    _fail(problems, "prune() changed training flags")


def _mode(training: bool) -> str:
    return "train" if training else "eval"


def check_compact_storage(pruned: nn.Module) -> None:
    """No tensor of the pruned model keeps bytes alive that no tensor of it uses.

    A shrunk parameter that is a view (``narrow``, a slice) of the dense weight keeps the whole dense
    storage alive: the pruned model would save and hold as much as before. Tensors sharing one storage
    (an LSTM's weights flattened by cuDNN) are fine as long as they fill it.
    """
    by_storage: dict[int, list[tuple[str, torch.Tensor]]] = {}
    for name, tensor in [*pruned.named_parameters(), *pruned.named_buffers()]:
        if tensor.numel():
            by_storage.setdefault(tensor.untyped_storage().data_ptr(), []).append((name, tensor))
    problems = []
    for tensors in by_storage.values():
        storage_bytes = tensors[0][1].untyped_storage().nbytes()
        used = sum(t.numel() * t.element_size() for _, t in tensors)
        if storage_bytes > used:
            names = ", ".join(f"{name} {tuple(t.shape)}" for name, t in tensors)
            problems.append(
                f"{names} use {used} bytes of a {storage_bytes}-byte storage "
                f"(untyped_storage().nbytes() != numel() * element_size(): a view of a larger tensor)"
            )
    _fail(problems, "pruned tensors keep dead storage alive")


def check_untouched(pruned: nn.Module, snapshot: Mapping[str, torch.Tensor]) -> None:
    """Each tensor of ``snapshot`` (layers outside every pruned chain) is bit-identical after ``prune()``."""
    problems = []
    for name, expected in snapshot.items():
        actual = _lookup(pruned, name)
        if isinstance(actual, str):
            problems.append(f"{name}: {actual}")
        elif not isinstance(actual, torch.Tensor):
            problems.append(f"{name} is a {type(actual).__name__}, was a tensor")
        elif actual.shape != expected.shape or actual.dtype != expected.dtype:
            problems.append(
                f"{name} is {tuple(actual.shape)} {actual.dtype}, was {tuple(expected.shape)} {expected.dtype}"
            )
        elif not torch.equal(actual.detach().cpu(), expected.cpu()):
            differ = (actual.detach().cpu() != expected.cpu()).sum().item()
            problems.append(f"{name} has {differ} of {expected.numel()} values changed")
    _fail(problems, "prune() modified layers outside every pruned chain")


def flat_outputs(output: object) -> list[torch.Tensor]:
    """A model's output (a tensor, or nested tuples/lists of them) as a flat list of tensors."""
    if isinstance(output, torch.Tensor):
        return [output]
    return [tensor for item in output for tensor in flat_outputs(item)]


def assert_outputs_close(actual: object, expected: object, what: str) -> None:
    """Two model outputs agree tensor by tensor, within ``expected``'s dtype tolerance."""
    actual, expected = flat_outputs(actual), flat_outputs(expected)
    assert len(actual) == len(expected), f"{what} returns {len(actual)} tensors, expected {len(expected)}"
    for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a.shape == e.shape, f"{what}: output {index} has shape {tuple(a.shape)}, expected {tuple(e.shape)}"
        assert_close(a, e, f"{what}: output {index}")


@contextlib.contextmanager
def missing_kernel_is_unsupported(what: str) -> Iterator[None]:
    """Turn torch's "not implemented for 'Half'" (no kernel for this dtype/device) into ``UnsupportedError``.

    Wrap only code that runs torch alone (the dense or masked model), never the pruner's own code: a
    pruner calling an op without a kernel for the model's dtype is the pruner's failure.
    """
    try:
        yield
    except (RuntimeError, NotImplementedError) as error:
        if not _MISSING_KERNEL.search(str(error)):
            raise
        raise UnsupportedError(f"torch {torch.__version__} cannot run {what}: {error}") from error


def require_torch_kernels(model: nn.Module, example_input: torch.Tensor) -> object:
    """Run the unpruned, unmasked ``model`` once and return its output.

    Only torch runs here, so a missing kernel for the model's dtype on its device (CPU float16 ops
    in older torch) is torch's limit: ``UnsupportedError`` naming it, before the pruner is involved.
    """
    what = f"{type(model).__name__} in {example_input.dtype} on {example_input.device}"
    with torch.no_grad(), missing_kernel_is_unsupported(what):
        return model(example_input)


def _loss(model: nn.Module, example_input: torch.Tensor, seed: int) -> torch.Tensor:
    """Mean squared output, in float32 whatever the model's dtype; dropout drawn alike on every call."""
    with torch.random.fork_rng(devices=[example_input.device] if example_input.is_cuda else []):
        torch.manual_seed(seed)
        outputs = flat_outputs(model(example_input))
    return sum(output.float().pow(2).mean() for output in outputs)


def _check_gradients(pruned: nn.Module) -> None:
    """After ``backward``: every parameter that requires grad got one (it takes part in the forward's autograd)."""
    missing = [name for name, p in pruned.named_parameters() if p.requires_grad and p.grad is None]
    if missing:
        raise AssertionError(
            f"{missing} of the pruned model receive no gradient: the forward does not use them in autograd "
            "(a stale copy of the weight? an inference tensor?)"
        )


def check_trains(pruned: nn.Module, example_input: torch.Tensor, seed: int = 0) -> None:
    """An SGD optimizer built on ``pruned.parameters()`` lowers the loss on a fixed batch.

    The loss pulls every output towards zero; the learning rate is scaled to the gradient
    (``STEP_FRACTION``), so the step size suits any model and dtype. This changes ``pruned``'s weights.
    """
    parameters = [p for p in pruned.parameters() if p.requires_grad]
    assert parameters, "the pruned model has no parameter that requires grad: nothing can be trained"
    optimizer = torch.optim.SGD(parameters, lr=0.0)
    losses = []
    for _ in range(TRAINING_STEPS):
        optimizer.zero_grad()
        loss = _loss(pruned, example_input, seed)
        losses.append(loss.item())
        assert loss.requires_grad, "the pruned model's output does not depend on any parameter that requires grad"
        try:
            loss.backward()
        except RuntimeError as error:
            raise AssertionError(f"the pruned model cannot be trained: backward fails: {error}") from error
        _check_gradients(pruned)
        squared = sum(p.grad.float().pow(2).sum() for p in parameters)
        assert squared > 0, "every gradient of the pruned model is zero: its output does not move with its weights"
        optimizer.param_groups[0]["lr"] = STEP_FRACTION * loss.item() / float(squared)
        try:
            optimizer.step()
        except RuntimeError as error:
            raise AssertionError(f"the pruned model cannot be trained: optimizer.step() fails: {error}") from error
    with torch.no_grad():
        final = _loss(pruned, example_input, seed).item()
    assert final < losses[0], (
        f"{TRAINING_STEPS} SGD steps on the pruned model's parameters did not lower the loss on a fixed batch: "
        f"{losses[0]:.6g} -> {final:.6g} (per step {[f'{v:.6g}' for v in losses]})"
    )


def _deep_copy(pruned: nn.Module) -> nn.Module:
    try:
        return copy.deepcopy(pruned)
    except Exception as error:
        raise AssertionError(f"copy.deepcopy of the pruned model fails: {type(error).__name__}: {error}") from error


def _scrambled_copy(pruned: nn.Module) -> nn.Module:
    """A deep copy with every floating tensor zeroed: only a working ``load_state_dict`` restores it."""
    clone = _deep_copy(pruned)
    with torch.no_grad():
        for tensor in [*clone.parameters(), *clone.buffers()]:
            if tensor.is_floating_point():
                tensor.zero_()
    return clone


def check_state_dict_round_trip(pruned: nn.Module, example_input: torch.Tensor, expected: object) -> None:
    """``state_dict`` -> ``torch.save`` -> ``torch.load(weights_only=True)`` -> strict load into a copy.

    The copy (of the pruned model, its tensors zeroed first) must then compute ``expected``.
    """
    buffer = io.BytesIO()
    try:
        torch.save(pruned.state_dict(), buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
    except Exception as error:
        raise AssertionError(
            f"the pruned model's state_dict does not survive torch.save / torch.load(weights_only=True): "
            f"{type(error).__name__}: {error}"
        ) from error
    clone = _scrambled_copy(pruned)
    try:
        clone.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError) as error:
        raise AssertionError(
            f"the pruned model's state_dict does not load (strict) into a copy of itself: {error}"
        ) from error
    with torch.no_grad():
        assert_outputs_close(clone(example_input), expected, "a copy loaded from the pruned model's state_dict")


def check_deepcopy(pruned: nn.Module, example_input: torch.Tensor, expected: object) -> None:
    """``copy.deepcopy`` works, shares no storage with the original and computes ``expected``."""
    clone = _deep_copy(pruned)
    originals = {t.untyped_storage().data_ptr() for t in [*pruned.parameters(), *pruned.buffers()] if t.numel()}
    shared = [n for n, t in clone.named_parameters() if t.numel() and t.untyped_storage().data_ptr() in originals]
    assert not shared, f"copy.deepcopy of the pruned model shares storage with the original: {shared}"
    with torch.no_grad():
        assert_outputs_close(clone(example_input), expected, "a deep copy of the pruned model")


def check_save_load(pruned: nn.Module, example_input: torch.Tensor, expected: object) -> None:
    """The whole pruned module survives ``torch.save`` / ``torch.load(weights_only=False)``."""
    buffer = io.BytesIO()
    try:
        torch.save(pruned, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
    except Exception as error:
        raise AssertionError(
            f"the pruned model does not survive torch.save / torch.load: {type(error).__name__}: {error}"
        ) from error
    with torch.no_grad():
        assert_outputs_close(loaded(example_input), expected, "the pruned model saved and loaded with torch.save")


def check_export(
    pruned: nn.Module, example_input: torch.Tensor, expected: object, dense: nn.Module | None = None
) -> None:
    """``torch.export.export(pruned, (example_input,))`` works and its module computes ``expected``.

    When export fails and ``dense`` (the unpruned model) fails too, the limit is torch's, not the
    pruner's: ``UnsupportedError`` with both reasons.
    """
    try:
        exported = torch.export.export(pruned, (example_input,))
    except Exception as error:
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        if dense is not None:
            try:
                torch.export.export(dense, (example_input,))
            except Exception as dense_error:
                raise UnsupportedError(
                    f"torch.export cannot export the dense model either ({type(dense_error).__name__}); "
                    f"pruned: {reason}"
                ) from error
            raise AssertionError(
                f"torch.export fails on the pruned model but exports the dense one: {reason}"
            ) from error
        raise AssertionError(f"torch.export fails on the pruned model: {reason}") from error
    with torch.no_grad():
        assert_outputs_close(exported.module()(example_input), expected, "the pruned model exported by torch.export")
