"""Constructor and ``prepare(model, config=None)`` discovery: the groups a sparsifier starts with."""

from __future__ import annotations

import pytest
from torch import nn

from .checks import must_raise
from .models import DEEP_NESTED_LAYERS, SIMPLE_LINEAR_LAYERS, DeepNested, SimpleLinear, build


@pytest.mark.requires("BaseSparsifier")
def test_base_sparsifier_is_abstract(backend, row_zero_sparsifier):
    with must_raise(TypeError, "BaseSparsifier can be instantiated: update_mask must be abstract"):
        backend.get("BaseSparsifier")()
    # a constructor that always raises TypeError passes the check above: a subclass must still construct
    assert isinstance(row_zero_sparsifier(), backend.get("BaseSparsifier"))


@pytest.mark.requires("BaseSparsifier")
@pytest.mark.parametrize(
    ("model_class", "expected"),
    [
        pytest.param(SimpleLinear, SIMPLE_LINEAR_LAYERS, id="simple"),
        pytest.param(DeepNested, DEEP_NESTED_LAYERS, id="nested"),
    ],
)
def test_config_none_finds_every_linear(backend, device, dtype, row_zero_sparsifier, model_class, expected):
    model = build(model_class, device, dtype)
    sparsifier = row_zero_sparsifier(test=3)
    sparsifier.prepare(model, config=None)
    found = sorted(group["module_fqn"] for group in sparsifier.groups)
    assert found == sorted(expected), f"config=None sparsified {found}, expected every Linear: {sorted(expected)}"
    for group in sparsifier.groups:
        assert group["module"] is model.get_submodule(group["module_fqn"]), (
            f"group {group['tensor_fqn']!r} points to a module that is not model.{group['module_fqn']}"
        )
        assert group["test"] == 3, f"default test=3 missing from group {group['tensor_fqn']!r}: {group}"
    sparsifier.step()


@pytest.mark.requires("BaseSparsifier")
def test_explicit_config_makes_one_group(backend, device, dtype, row_zero_sparsifier):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier(test=3)
    sparsifier.prepare(model, [{"tensor_fqn": "linear1.weight"}])
    assert [g["tensor_fqn"] for g in sparsifier.groups] == ["linear1.weight"], (
        f"config naming linear1.weight gave groups {[g['tensor_fqn'] for g in sparsifier.groups]}"
    )
    group = sparsifier.groups[0]
    assert (group["module_fqn"], group["tensor_name"]) == ("linear1", "weight"), (
        f"tensor_fqn 'linear1.weight' resolved to module_fqn={group['module_fqn']!r}, "
        f"tensor_name={group['tensor_name']!r}"
    )
    assert group.get("test") == 3, f"constructor default test=3 is missing from the group: {group}"


@pytest.mark.requires("WeightNormSparsifier")
def test_weight_norm_constructor_defaults(backend, device, dtype):
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=0.3, sparse_block_shape=(2, 2))
    model = build(SimpleLinear, device, dtype)
    sparsifier.prepare(model, config=None)
    assert sparsifier.groups, "prepare(model, None) configured no tensor: no default could be checked"
    for group in sparsifier.groups:
        settings = (group["sparsity_level"], tuple(group["sparse_block_shape"]), group["zeros_per_block"])
        assert settings == (0.3, (2, 2), 4), (
            f"group {group['tensor_fqn']!r} has (sparsity_level, block, zeros_per_block)={settings}, "
            "expected (0.3, (2, 2), 4): zeros_per_block defaults to the block size"
        )


@pytest.mark.requires("NearlyDiagonalSparsifier")
def test_nearly_diagonal_constructor(backend, device, dtype):
    model = build(SimpleLinear, device, dtype)
    sparsifier = backend.get("NearlyDiagonalSparsifier")(nearliness=1)
    sparsifier.prepare(model, config=None)
    assert sorted(g["module_fqn"] for g in sparsifier.groups) == sorted(SIMPLE_LINEAR_LAYERS)
    for group in sparsifier.groups:
        assert isinstance(group["module"], nn.Linear), f"{group['module_fqn']} is not a Linear"
        assert group["nearliness"] == 1, f"group {group['tensor_fqn']!r} lost nearliness=1: {group}"
