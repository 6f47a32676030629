"""Generic lifecycle checks: what every ``BaseSparsifier`` subclass owes, structured pruners included.

Each check builds fresh instances from the subject, works on the workbench model of its kind and
fails with a message that names the tensor, what was found and what the contract expects. Checks of
``squash_mask`` and ``convert`` apply to element-wise sparsifiers only (a structured pruner's masks
end in ``prune()``, checked in ``pruner_checks``).
"""

from __future__ import annotations

import copy
import io
import re
from typing import Any

import torch
from prunebench.harness.errors import UnsupportedError
from prunebench.harness.subjects import PRUNER, SPARSIFIER, Subject
from torch import nn

from ..checks import assert_masks_equal, mask_holder, mask_of, must_raise, original_of, parametrized_modules
from . import overrides
from .registry import Check
from .workbench import (
    BENCH_NAMES,
    CONFIGURED,
    EVERY_LAYER,
    Bench,
    batch,
    bench_for,
    build_model,
    calibrate,
    calibrated_step,
    changed,
    config,
    masks,
    prepared,
    require_zeros,
    step_to_level,
    values_by_name,
)

LEVEL_OVERRIDE = 0.25
LAYERS_WITHOUT_CONFIG = {SPARSIFIER: "every Linear at any depth (and no LayerNorm)", PRUNER: "every Linear and Conv2d"}


def prepare_masks_configured_tensors(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """Masks on the configured weights only. A bias may follow its weight's row mask (``prune_bias``, by
    a hook or by a parametrization that reads that mask, as the reference's LSTM biases do), but it
    carries no mask of its own."""
    model, _ = prepared(subject, bench_for(subject, case), device, dtype, stepped=False)
    masked = parametrized_modules(model)
    assert masked == sorted(CONFIGURED), (
        f"prepare masked {masked}, expected exactly the configured {sorted(CONFIGURED)}"
    )
    for layer in CONFIGURED:
        module = model.get_submodule(layer)
        assert mask_holder(module, "bias") is None, f"prepare put a mask on {layer}.bias, which no config entry names"
        assert bool(mask_of(module).ne(0).all()), f"the fresh mask of {layer}.weight already zeroes entries"


def prepare_without_config_masks_default_layers(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    bench = bench_for(subject, case)
    model = build_model(subject, bench, device, dtype)
    subject.build().prepare(model, None)
    masked = parametrized_modules(model)
    expected = sorted(bench.masked_without_config[subject.kind])
    assert masked == expected, (
        f"prepare(model, None) masked {masked}, expected {LAYERS_WITHOUT_CONFIG[subject.kind]}: {expected}"
    )


def _masks_with(subject: Subject, bench: Bench, device: str, dtype: torch.dtype, entry: dict, defaults: dict) -> dict:
    model = build_model(subject, bench, device, dtype)
    sparsifier = subject.build()
    sparsifier.defaults.update(defaults)
    sparsifier.prepare(model, config(**entry))
    step_to_level(subject, sparsifier, model, bench)
    return masks(model)


def per_tensor_config_overrides_defaults(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """For each per-tensor key: the masks of ``embed`` configured with ``{key: v}`` equal those of a
    sparsifier whose default is ``v``, and ``block.1`` (configured with no override) keeps the default."""
    bench = bench_for(subject, case)
    keys = overrides.config_keys(subject.build())
    baseline = _masks_with(subject, bench, device, dtype, {}, {})
    checked, skipped = [], []
    for key, default in sorted(keys.items()):
        value = overrides.other_value(key, default)
        if value is None:
            skipped.append(f"{key} (no second value derivable from {default!r})")
            continue
        try:
            as_default = _masks_with(subject, bench, device, dtype, {}, {key: value})
        except Exception as error:
            skipped.append(f"{key}={value!r} ({type(error).__name__} as a default)")
            continue
        if torch.equal(as_default["embed"], baseline["embed"]):
            skipped.append(f"{key}={value!r} (no effect on the mask as a default)")
            continue
        override = _masks_with(subject, bench, device, dtype, {key: value}, {})
        assert torch.equal(override["embed"], as_default["embed"]), (
            f"embed.weight configured with {{{key!r}: {value!r}}} got the mask of the constructor default "
            f"{key}={default!r}, not that of {key}={value!r}: the per-tensor config lost to the default"
        )
        assert torch.equal(override["block.1"], baseline["block.1"]), (
            f"the override {{{key!r}: {value!r}}} given for embed.weight changed block.1.weight's mask too"
        )
        checked.append(key)
    if not checked:
        raise UnsupportedError(f"no per-tensor key of {subject.name} could be checked: {'; '.join(skipped)}")


def _expected_zero_fraction(group: dict[str, Any], level: float) -> tuple[float, int]:
    """The fraction of zeros a level asks for, and the selection unit's size in elements (the tolerance)."""
    block = group.get("sparse_block_shape")
    block_size = int(block[0] * block[1]) if block else 1
    zeros_per_block = group.get("zeros_per_block")
    per_block = (zeros_per_block / block_size) if zeros_per_block is not None and block else 1.0
    return level * per_block, block_size


def step_reaches_sparsity_level(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """The configured level, per tensor, once the class's schedule is done (one step unless it declares
    ``steps_to_level``): ``embed`` at a per-tensor level, ``block.1`` at the default."""
    bench = bench_for(subject, case)
    level = overrides.level_of(subject.build())
    if level is None:
        raise UnsupportedError(f"{subject.name} takes no sparsity_level")
    model = build_model(subject, bench, device, dtype)
    sparsifier = subject.build()
    sparsifier.prepare(model, config(sparsity_level=LEVEL_OVERRIDE))
    steps = step_to_level(subject, sparsifier, model, bench)
    schedule = f"after {steps} steps (its declared steps_to_level)" if subject.tags.scheduled else "after one step"
    for group, wanted, where in zip(
        sparsifier.groups, (LEVEL_OVERRIDE, level), ("per-tensor", "constructor default"), strict=False
    ):
        mask = masks(model, (group["tensor_fqn"].rsplit(".", 1)[0],))
        (layer, kept_mask), *_ = mask.items()
        expected, unit = _expected_zero_fraction(group, wanted)
        zeros = int((~kept_mask).sum())
        # rounding: one row of a structured mask; a block, or one element per row for per-row rules
        tolerance = 1 if kept_mask.dim() == 1 else max(unit, kept_mask.shape[0])
        assert abs(zeros - expected * kept_mask.numel()) <= tolerance, (
            f"mask of '{layer}.weight' has {zeros / kept_mask.numel():.1%} zeros {schedule}, expected "
            f"{expected:.1%} ({where} sparsity_level={wanted}; constructor default {level})"
            + (
                ""
                if subject.tags.scheduled
                else "; a class that reaches its level over several steps declares it: "
                "prunebench_tags = {'steps_to_level': N or 'the setting holding N'}"
            )
        )


def disabled_mask_update_freezes_masks(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    bench = bench_for(subject, case)
    model, sparsifier = prepared(subject, bench, device, dtype, stepped=False)
    sparsifier.enable_mask_update = False
    calibrated_step(sparsifier, model, bench)
    frozen = {layer: bool(mask.all()) for layer, mask in masks(model).items()}
    assert all(frozen.values()), f"step changed masks although enable_mask_update is False: kept-all per layer {frozen}"
    sparsifier.enable_mask_update = True
    step_to_level(subject, sparsifier, model, bench)
    require_zeros(masks(model), "enable_mask_update")


def step_is_deterministic(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """Two runs on the same weights give the same masks; a class declaring ``deterministic: False``
    draws from torch's generator, which is seeded alike before each run."""
    bench = bench_for(subject, case)
    runs = []
    for _ in range(2):
        if not subject.tags.deterministic:
            torch.manual_seed(0)
        runs.append(prepared(subject, bench, device, dtype)[0])
    first, second = runs
    for layer, mask in masks(first).items():
        assert_masks_equal(
            mask_of(second.get_submodule(layer)),
            mask,
            f"{layer}.weight",
            "same weights, second run" + ("" if subject.tags.deterministic else ", torch's generator seeded alike"),
        )


def _irregular(model: nn.Module) -> dict[str, torch.Tensor]:
    """Write a pattern no rule produces into every mask, so a reload can be told from a recompute."""
    for layer in CONFIGURED:
        mask = mask_of(model.get_submodule(layer))
        pattern = torch.arange(mask.numel(), device=mask.device).reshape(mask.shape) % 3 != 0
        mask.copy_(pattern.to(mask.dtype))
    return masks(model)


def _reloaded(subject: Subject, bench: Bench, device: str, dtype: torch.dtype, state_dict: dict) -> nn.Module:
    model, sparsifier = prepared(subject, bench, device, dtype, seed=7, stepped=False)
    sparsifier.load_state_dict(state_dict)
    return model


def state_dict_round_trip(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    bench = bench_for(subject, case)
    model, sparsifier = prepared(subject, bench, device, dtype)
    expected = _irregular(model)
    state_dict = sparsifier.state_dict()
    assert {"state", "groups"} <= set(state_dict), f"state_dict has keys {sorted(state_dict)}, expected state, groups"
    reloaded = _reloaded(subject, bench, device, dtype, state_dict)
    for layer, mask in expected.items():
        assert_masks_equal(mask_of(reloaded.get_submodule(layer)), mask, f"{layer}.weight", "after load_state_dict")


def state_dict_loads_with_weights_only(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    bench = bench_for(subject, case)
    model, sparsifier = prepared(subject, bench, device, dtype)
    expected = _irregular(model)
    try:
        loaded = saved_and_loaded(sparsifier.state_dict(), weights_only=True)
    except Exception as error:
        refused = re.search(r"Unsupported global: [^\n]*?(?=\s*(?:$|\n|\.\s|[A-Z][a-z]+ ))", str(error))
        raise AssertionError(
            f"torch.load(weights_only=True) refuses the saved state_dict ({type(error).__name__}"
            + (f": {refused.group(0).strip()}" if refused else "")
            + "): it holds more than tensors and plain containers"
        ) from None
    reloaded = _reloaded(subject, bench, device, dtype, loaded)
    for layer, mask in expected.items():
        assert_masks_equal(mask_of(reloaded.get_submodule(layer)), mask, f"{layer}.weight", "after torch.load")


def load_state_dict_leaves_argument_intact(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    bench = bench_for(subject, case)
    _, sparsifier = prepared(subject, bench, device, dtype)
    state_dict = sparsifier.state_dict()
    saved = {fqn: sorted(entry) for fqn, entry in state_dict["state"].items()}
    _reloaded(subject, bench, device, dtype, state_dict)
    after = {fqn: sorted(entry) for fqn, entry in state_dict["state"].items()}
    assert after == saved, (
        f"load_state_dict changed the state_dict it was given (keys per tensor {saved} -> {after}): "
        "the same state cannot be loaded twice"
    )


def squash_mask_bakes_masks(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    model, sparsifier = prepared(subject, bench_for(subject, case), device, dtype)
    found = masks(model)
    require_zeros(found, "squash_mask's zeros")
    masked_weights = {layer: model.get_submodule(layer).weight.detach().clone() for layer in found}
    sparsifier.squash_mask()
    assert parametrized_modules(model) == [], f"masks left after squash_mask on {parametrized_modules(model)}"
    for layer, mask in found.items():
        weight = model.get_submodule(layer).weight
        assert isinstance(weight, nn.Parameter), f"{layer}.weight is a {type(weight).__name__} after squash_mask"
        assert weight.dtype == dtype, f"{layer}.weight has dtype {weight.dtype} after squash_mask, expected {dtype}"
        nonzero = int(torch.count_nonzero(weight.detach()[~mask]))
        assert nonzero == 0, f"{layer}.weight has {nonzero} nonzero entries where the mask had zeros after squash_mask"
        assert torch.equal(weight.detach(), masked_weights[layer]), (
            f"{layer}.weight after squash_mask differs from the masked weight it had before"
        )


class _SwappedLinear(nn.Linear):
    """Stands in for a sparse kernel in ``convert``'s mapping."""

    @classmethod
    def from_dense(cls, dense: nn.Linear) -> _SwappedLinear:
        swapped = cls(dense.in_features, dense.out_features, bias=dense.bias is not None)
        return swapped.to(dense.weight.device)


class _SwappedConv2d(nn.Conv2d):
    """The same for convolutions."""

    @classmethod
    def from_dense(cls, dense: nn.Conv2d) -> _SwappedConv2d:
        swapped = cls(dense.in_channels, dense.out_channels, dense.kernel_size, bias=dense.bias is not None)
        return swapped.to(dense.weight.device)


SWAPPED = (_SwappedLinear, _SwappedConv2d)


def convert_swaps_only_sparsified(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    model, sparsifier = prepared(subject, bench_for(subject, case), device, dtype)
    converted = sparsifier.convert(model, mapping={nn.Linear: _SwappedLinear, nn.Conv2d: _SwappedConv2d}, inplace=False)
    types = {layer: type(converted.get_submodule(layer)) for layer in EVERY_LAYER}
    swapped = sorted(layer for layer, kind in types.items() if kind in SWAPPED)
    assert swapped == sorted(CONFIGURED), f"convert swapped {swapped}, expected the sparsified {sorted(CONFIGURED)}"
    assert type(model.get_submodule("embed")) not in SWAPPED, "convert(inplace=False) modified the model"
    with must_raise(
        NotImplementedError, "convert(mapping=None) did not raise NotImplementedError (no default mapping)"
    ):
        sparsifier.convert(model, mapping=None)


def prepare_keeps_parameter_objects(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """An optimizer built before ``prepare`` trains the prepared model: the original Parameters stay."""
    bench = bench_for(subject, case)
    model = build_model(subject, bench, device, dtype)
    before = {name: parameter for name, parameter in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sparsifier = subject.build()
    sparsifier.prepare(model, config())
    calibrated_step(sparsifier, model, bench)
    after = {id(parameter) for parameter in model.parameters()}
    lost = sorted(name for name, parameter in before.items() if id(parameter) not in after)
    assert not lost, (
        f"prepare replaced the Parameter objects of {lost}: an optimizer built before prepare trains nothing"
    )
    # the originals behind the masks: what the optimizer trains (a masked weight that a forward pre-hook
    # derives, as torch.nn.utils.prune's, only catches up at the next forward)
    weights = {layer: original_of(model.get_submodule(layer)).detach().clone() for layer in CONFIGURED}
    model(batch(model, bench)).float().square().sum().backward()
    optimizer.step()
    stale = [layer for layer, weight in weights.items() if torch.equal(original_of(model.get_submodule(layer)), weight)]
    assert not stale, f"an optimizer step did not change the original (unmasked) weights of {stale}"


def step_changes_only_masks(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """``step`` writes masks and nothing else; the calibration forward before it may update what a rule
    records from activations (Wanda's observers), so the snapshot is taken after it."""
    if subject.tags.updates_weights:
        raise UnsupportedError(
            f"{subject.name} declares updates_weights: its step rewrites kept weights by design (the one-shot "
            "suite holds it to its own contract)"
        )
    bench = bench_for(subject, case)
    model, sparsifier = prepared(subject, bench, device, dtype, stepped=False)
    calibrate(model, bench)
    before = values_by_name(model)
    sparsifier.step()
    touched = changed(before, values_by_name(model))
    assert not touched, f"step changed {touched}; it may change masks only (every other value must be bit-identical)"


def squash_changes_only_masked_weights(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    model, sparsifier = prepared(subject, bench_for(subject, case), device, dtype)
    before = {k: v for k, v in values_by_name(model).items() if not any(k.startswith(f"{c}.") for c in CONFIGURED)}
    sparsifier.squash_mask()
    after = {k: v for k, v in values_by_name(model).items() if k in before}
    touched = changed(before, after)
    assert not touched, f"squash_mask changed {touched}, which carry no mask"


def masks_are_binary_in_weight_dtype(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """The weight's dtype is the original's: a float32 mask multiplied into a float16 weight promotes the
    masked weight to float32, so comparing with it would let exactly that mask pass."""
    model, _ = prepared(subject, bench_for(subject, case), device, dtype)
    for layer in CONFIGURED:
        mask = mask_of(model.get_submodule(layer))
        weight = original_of(model.get_submodule(layer))
        expected = torch.bool if subject.kind == PRUNER else weight.dtype
        assert mask.dtype == expected, f"mask of '{layer}.weight' has dtype {mask.dtype}, expected {expected} " + (
            "(a structured pruner's row masks are bool)"
            if subject.kind == PRUNER
            else "(the weight's dtype: mask.mean() is the density users compute)"
        )
        assert mask.device == weight.device, (
            f"mask of '{layer}.weight' is on {mask.device}, the weight on {weight.device}"
        )
        others = mask[(mask != 0) & (mask != 1)]
        assert others.numel() == 0, (
            f"mask of '{layer}.weight' holds {others.numel()} values other than 0 and 1 "
            f"(e.g. {others[:3].tolist()}): NaN reads as kept"
        )


def model_state_dict_carries_no_masks(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """A prepared model's ``state_dict()`` has no mask keys and loads into the same architecture prepared elsewhere."""
    bench = bench_for(subject, case)
    model, _ = prepared(subject, bench, device, dtype)
    state = model.state_dict()
    mask_keys = sorted(key for key in state if key.rsplit(".", 1)[-1] in ("mask", "weight_mask"))
    assert not mask_keys, f"the prepared model's state_dict carries mask keys {mask_keys}; the sparsifier saves masks"
    other, _ = prepared(subject, bench, device, dtype, seed=7)
    try:
        other.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise AssertionError(
            f"the prepared model's state_dict does not load (strict) into the same architecture prepared "
            f"elsewhere: {' '.join(str(error).split())}"
        ) from None


def squashed_state_dict_loads_into_dense(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    bench = bench_for(subject, case)
    model, sparsifier = prepared(subject, bench, device, dtype)
    sparsifier.squash_mask()
    dense = build_model(subject, bench, device, dtype, seed=7)
    try:
        dense.load_state_dict(model.state_dict(), strict=True)
    except RuntimeError as error:
        raise AssertionError(
            "a squashed model's state_dict does not load (strict) into a fresh dense model: "
            f"{str(error).splitlines()[0]}"
        ) from None
    inputs = batch(model, bench)
    assert torch.equal(dense(inputs), model(inputs)), "the dense model loaded from the squashed one computes otherwise"


def saved_and_loaded(value: object, weights_only: bool) -> object:
    """``value`` after a round trip through ``torch.save`` and ``torch.load``."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=weights_only)


def copies_and_saves_keep_the_model(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """A prepared model survives ``deepcopy`` (masks and all) and saving its ``state_dict``; a squashed
    one survives ``deepcopy`` and ``torch.save``/``torch.load`` whole (torch serialises parametrized
    modules through their ``state_dict`` only)."""
    bench = bench_for(subject, case)
    model, sparsifier = prepared(subject, bench, device, dtype)
    inputs = batch(model, bench)
    expected = model(inputs)
    copied = copy.deepcopy(model)
    assert torch.equal(copied(inputs), expected), "a deepcopy of the prepared model computes a different output"
    for layer, mask in masks(model).items():
        assert_masks_equal(mask_of(copied.get_submodule(layer)), mask, f"{layer}.weight", "after deepcopy")
    elsewhere, _ = prepared(subject, bench, device, dtype, seed=7, stepped=False)
    elsewhere_weights = saved_and_loaded(model.state_dict(), weights_only=True)
    elsewhere.load_state_dict(elsewhere_weights, strict=False)
    original = {name: value for name, value in model.named_parameters()}
    differ = sorted(name for name, value in elsewhere.named_parameters() if not torch.equal(value, original[name]))
    assert not differ, f"torch.save/torch.load of the prepared model's state_dict did not restore {differ}"
    sparsifier.squash_mask()
    expected = model(inputs)
    for how, restore in (
        ("deepcopy", copy.deepcopy),
        ("torch.save/torch.load", lambda squashed: saved_and_loaded(squashed, weights_only=False)),
    ):
        try:
            restored = restore(model)
        except Exception as error:
            raise AssertionError(f"{how} of the squashed model failed: {type(error).__name__}: {error}") from None
        assert torch.equal(restored(inputs), expected), f"{how} of the squashed model computes a different output"


def masked_positions_stay_zero_in_training(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    bench = bench_for(subject, case)
    model, _ = prepared(subject, bench, device, dtype)
    found = masks(model)
    require_zeros(found, "masked positions during training")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        model(batch(model, bench)).float().square().sum().backward()
        optimizer.step()
    for layer, mask in found.items():
        weight = model.get_submodule(layer).weight.detach()
        nonzero = int(torch.count_nonzero(weight[~mask]))
        assert nonzero == 0, f"after 3 optimizer steps {layer}.weight has {nonzero} nonzero entries at masked positions"


def _on_benches(name: str, function: Any, relies_on: tuple[str, ...] = ()) -> Check:
    return Check(name, function, relies_on, BENCH_NAMES)


SHARED: list[Check] = [
    _on_benches("prepare_masks_configured_tensors", prepare_masks_configured_tensors, ("prepare",)),
    _on_benches(
        "prepare_without_config_masks_default_layers", prepare_without_config_masks_default_layers, ("prepare",)
    ),
    _on_benches("per_tensor_config_overrides_defaults", per_tensor_config_overrides_defaults),
    _on_benches("step_reaches_sparsity_level", step_reaches_sparsity_level),
    _on_benches("disabled_mask_update_freezes_masks", disabled_mask_update_freezes_masks, ("step",)),
    _on_benches("step_is_deterministic", step_is_deterministic),
    _on_benches("state_dict_round_trip", state_dict_round_trip, ("state_dict", "load_state_dict")),
    _on_benches("state_dict_loads_with_weights_only", state_dict_loads_with_weights_only, ("state_dict",)),
    _on_benches("load_state_dict_leaves_argument_intact", load_state_dict_leaves_argument_intact, ("load_state_dict",)),
    _on_benches("prepare_keeps_parameter_objects", prepare_keeps_parameter_objects, ("prepare", "_prepare")),
    _on_benches("step_changes_only_masks", step_changes_only_masks),
    _on_benches("masks_are_binary_on_the_weights_device", masks_are_binary_in_weight_dtype),
    _on_benches("model_state_dict_carries_no_masks", model_state_dict_carries_no_masks, ("prepare",)),
    _on_benches("masked_positions_stay_zero_in_training", masked_positions_stay_zero_in_training),
]
"""Checks every subject owes, element-wise or structured, on an MLP and a CNN."""

SPARSIFIER_ONLY: list[Check] = [
    _on_benches("squash_mask_bakes_masks", squash_mask_bakes_masks, ("squash_mask",)),
    _on_benches("squash_changes_only_masked_weights", squash_changes_only_masked_weights, ("squash_mask",)),
    _on_benches("squashed_state_dict_loads_into_dense", squashed_state_dict_loads_into_dense, ("squash_mask",)),
    _on_benches("copies_and_saves_keep_the_model", copies_and_saves_keep_the_model),
    _on_benches("convert_swaps_only_sparsified", convert_swaps_only_sparsified, ("convert",)),
]
"""Checks of what element-wise sparsifiers end with: ``squash_mask`` and ``convert``."""
