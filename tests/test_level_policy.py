"""The reference's one ``sparsity_level`` validator: type and NaN checks, then each class's declared range policy."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import pytest
import torch
from prunebench.reference_impl.validation import (
    CLAMP_WITH_WARNING,
    KEEP_ALL_MASK_ALL,
    RAISE_OUTSIDE_UNIT,
    LevelPolicy,
    check_sparsity_level,
)
from torch import nn

from prunebench import reference_impl as ref

POLICIES = {"raise": RAISE_OUTSIDE_UNIT, "clamp": KEEP_ALL_MASK_ALL, "warn": CLAMP_WITH_WARNING}


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
@pytest.mark.parametrize(
    ("level", "error", "names"),
    [
        ("half", TypeError, "'half'"),
        (True, TypeError, "True"),
        (None, TypeError, "defaults"),
        (math.nan, ValueError, "nan"),
    ],
)
def test_not_a_level_is_an_error_under_every_policy(policy, level, error, names):
    with pytest.raises(error) as raised:
        check_sparsity_level(level, policy, " for 'fc.weight'")
    message = str(raised.value)
    assert names in message and "'fc.weight'" in message and policy.accepted in message, message


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
@pytest.mark.parametrize("level", [0, 0.0, 0.25, Fraction(1, 3), 1])
def test_a_level_in_the_unit_interval_passes_silently(policy, level):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_sparsity_level(level, policy) == float(level)


@pytest.mark.parametrize("level", [-0.5, 1.5, math.inf, -math.inf])
def test_raise_policy_names_the_value_and_the_range(level):
    with pytest.raises(ValueError) as raised:
        check_sparsity_level(level, RAISE_OUTSIDE_UNIT, " for 'fc.weight'")
    assert f"sparsity_level={level!r} for 'fc.weight' is outside [0, 1]" in str(raised.value), str(raised.value)


@pytest.mark.parametrize(("level", "clamped"), [(-0.5, 0.0), (1.5, 1.0), (math.inf, 1.0), (-math.inf, 0.0)])
def test_clamp_policies_give_the_nearest_end(level, clamped):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_sparsity_level(level, KEEP_ALL_MASK_ALL) == clamped
    with pytest.warns(UserWarning, match=rf"sparsity_level={level!r} is outside \[0, 1\]; clamped"):
        assert check_sparsity_level(level, CLAMP_WITH_WARNING) == clamped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_sparsity_level(level, CLAMP_WITH_WARNING, warn=False) == clamped


@pytest.mark.parametrize(
    ("class_name", "expected"),
    [
        ("WeightNormSparsifier", CLAMP_WITH_WARNING),  # README, 'Deliberate deviations'
        ("WandaSparsifier", CLAMP_WITH_WARNING),
        ("SaliencyPruner", RAISE_OUTSIDE_UNIT),  # torch: int(rows * level) rows to topk
        ("LSTMSaliencyPruner", RAISE_OUTSIDE_UNIT),
        ("FPGMPruner", KEEP_ALL_MASK_ALL),  # torch: explicit <= 0 / >= 1 branches
    ],
)
def test_classes_declare_their_policy(class_name, expected):
    policy = getattr(ref, class_name).level_policy
    assert isinstance(policy, LevelPolicy), f"{class_name}.level_policy is {policy!r}"
    assert policy == expected, f"{class_name}.level_policy is {policy!r}, expected {expected!r}"


@pytest.mark.parametrize("class_name", ["SaliencyPruner", "LSTMSaliencyPruner"])
def test_saliency_pruners_refuse_a_level_outside_the_unit_interval(class_name):
    model = nn.Sequential(nn.Linear(8, 8))
    pruner = getattr(ref, class_name)(defaults={"sparsity_level": 1.5})
    with pytest.raises(ValueError, match=r"sparsity_level=1\.5 for '0\.weight' is outside \[0, 1\]"):
        pruner.prepare(model, [{"tensor_fqn": "0.weight"}])
    assert not hasattr(model[0], "parametrizations"), "a refused prepare left a parametrization behind"


@pytest.mark.parametrize(("level", "kept"), [(math.inf, 0), (-3.0, 8)])
def test_fpgm_clamps_silently(level, kept):
    model = nn.Sequential(nn.Linear(4, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pruner = ref.FPGMPruner(sparsity_level=level)
        pruner.prepare(model, [{"tensor_fqn": "0.weight"}])
        pruner.step()
    assert int(model[0].parametrizations.weight[0].mask.sum()) == kept


@pytest.mark.parametrize(("level", "kept"), [(2.0, 0), (-1.0, 64)])
def test_weight_norm_out_of_range_level_masks_all_or_keeps_all_like_torch(level, kept):
    """torch's ``update_mask`` branches: ``>= 1`` zeroes every block, ``<= 0`` keeps every one."""
    model = nn.Sequential(nn.Linear(8, 8, bias=False))
    with pytest.warns(UserWarning, match="clamped"):
        sparsifier = ref.WeightNormSparsifier(sparsity_level=level, sparse_block_shape=(1, 1))
    with pytest.warns(UserWarning, match=r"for '0\.weight'"):
        sparsifier.prepare(model, None)
    sparsifier.step()
    assert int(torch.count_nonzero(sparsifier.state["0.weight"]["mask"])) == kept
