"""``prepare``: which tensors get a mask parametrization, with which settings, and what it does."""

from __future__ import annotations

import pytest
import torch

from .checks import (
    assert_close,
    assert_parametrized,
    mask_holder,
    mask_of,
    must_raise,
    parametrized_modules,
    zero_fraction,
)
from .models import SIMPLE_LINEAR_LAYERS, SimpleLinear, build, example_input

SPARSIFIERS = {
    "weight_norm": ("WeightNormSparsifier", {}),
    "nearly_diagonal": ("NearlyDiagonalSparsifier", {"nearliness": 1}),
}


@pytest.mark.parametrize("kind", sorted(SPARSIFIERS))
def test_config_none_attaches_fake_sparsity(backend, device, dtype, kind):
    class_name, kwargs = SPARSIFIERS[kind]
    fake_sparsity = backend.get("FakeSparsity")
    model = build(SimpleLinear, device, dtype)
    assert parametrized_modules(model) == [], "the fresh model is already parametrized"
    backend.get(class_name)(**kwargs).prepare(model, config=None)
    for fqn in SIMPLE_LINEAR_LAYERS:
        module = model.get_submodule(fqn)
        holder = mask_holder(module)
        assert holder is not None, f"{fqn}.weight has no mask"
        assert type(holder) is fake_sparsity, (
            f"{fqn}.weight is masked by {type(holder).__name__}, expected the backend's FakeSparsity"
        )
        mask = mask_of(module)
        assert tuple(mask.shape) == tuple(module.weight.shape), (
            f"mask of {fqn}.weight has shape {tuple(mask.shape)}, expected the weight's {tuple(module.weight.shape)}"
        )
        assert mask.device.type == torch.device(device).type, (
            f"mask of {fqn}.weight is on {mask.device}, expected {device}"
        )
        assert zero_fraction(mask) == 0.0, f"mask of {fqn}.weight already masks {zero_fraction(mask):.1%} before step"


@pytest.mark.requires("BaseSparsifier")
def test_explicit_config_parametrizes_only_configured(backend, device, dtype, row_zero_sparsifier):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier(test=3)
    sparsifier.prepare(model, [{"tensor_fqn": "seq.0.weight", "test": 42}, {"tensor_fqn": "linear2.weight"}])
    assert_parametrized(model, ["seq.0", "linear2"], True, "after prepare with seq.0 and linear2 configured")
    assert_parametrized(model, ["seq.1", "seq.2", "linear1"], False, "after prepare with only seq.0 and linear2")
    by_fqn = {group["tensor_fqn"]: group for group in sparsifier.groups}
    assert by_fqn["seq.0.weight"]["test"] == 42, (
        f"per-tensor test=42 lost to the default 3: group is {by_fqn['seq.0.weight']}"
    )
    assert by_fqn["linear2.weight"]["test"] == 3, (
        f"unconfigured key test should take the default 3, group is {by_fqn['linear2.weight']}"
    )
    assert by_fqn["linear2.weight"]["module"] is model.linear2, "group of linear2.weight points elsewhere"


@pytest.mark.requires("WeightNormSparsifier")
def test_per_tensor_config_overrides_defaults(backend, device, dtype):
    model = build(SimpleLinear, device, dtype)
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=0.5, sparse_block_shape=(1, 1))
    sparsifier.prepare(model, [{"tensor_fqn": "seq.1.weight", "sparsity_level": 0.0}, {"tensor_fqn": "linear2.weight"}])
    sparsifier.step()
    assert zero_fraction(mask_of(model.seq[1])) == 0.0, (
        f"seq.1.weight configured with sparsity_level=0.0 has {zero_fraction(mask_of(model.seq[1])):.1%} zeros: "
        "the constructor default overrode the per-tensor config"
    )
    assert zero_fraction(mask_of(model.linear2)) == pytest.approx(0.5), (
        f"linear2.weight (default sparsity_level=0.5) has {zero_fraction(mask_of(model.linear2)):.1%} zeros"
    )


@pytest.mark.requires("WeightNormSparsifier")
def test_prepare_keeps_forward(backend, device, dtype):
    model = build(SimpleLinear, device, dtype)
    x = example_input(model)
    dense = model(x)
    backend.get("WeightNormSparsifier")().prepare(model, config=None)
    assert_close(model(x), dense, "forward after prepare (all-ones masks) vs the dense model")


NO_SUCH_NAME = (AttributeError, ValueError)
"""torch looks the name up and fails with AttributeError; the reference names the missing name in a ValueError."""
MALFORMED_ENTRY = (AssertionError, ValueError, TypeError)
"""torch asserts the entry's shape (AssertionError); the reference raises ValueError / TypeError naming it."""


@pytest.mark.requires("BaseSparsifier")
@pytest.mark.parametrize(
    ("config", "errors"),
    [
        pytest.param([{"tensor_fqn": "linear9.weight"}], NO_SUCH_NAME, id="missing_module"),
        pytest.param([{"tensor_fqn": "linear1.nonexistent"}], NO_SUCH_NAME, id="missing_tensor"),
        pytest.param([{"sparsity_level": 0.5}], MALFORMED_ENTRY, id="no_tensor_fqn"),
        pytest.param(["linear1.weight"], MALFORMED_ENTRY, id="entry_not_dict"),
    ],
)
def test_invalid_config_is_rejected(backend, device, dtype, row_zero_sparsifier, config, errors):
    model = build(SimpleLinear, device, dtype)
    names = " or ".join(error.__name__ for error in errors)
    with must_raise(
        errors, f"prepare accepted the invalid config {config!r} or raised another error; expected {names}"
    ):
        row_zero_sparsifier().prepare(model, config)
    # any error passes above, so a prepare that always raises must be told apart: a valid config works
    row_zero_sparsifier().prepare(build(SimpleLinear, device, dtype), [{"tensor_fqn": "linear1.weight"}])
