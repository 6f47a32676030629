"""Declared capabilities (``harness.tags``) and building a user's class its own way (``harness.construction``)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest
from own_pruners import GradualMagnitudeSparsifier, L1FilterPruner
from prunebench.harness.construction import ConstructorMap, adapted_class, check_buildable, settings_of_call
from prunebench.harness.errors import UnsupportedError, UsageError
from prunebench.harness.tags import LAYER_TYPES, PrunerTags, tags_of
from torch import nn
from torch.ao.pruning import BaseSparsifier

from .user_classes import KeywordSaliencyPruner


class _Declared(BaseSparsifier):
    prunebench_tags: ClassVar[dict[str, Any]] = {}

    def update_mask(self, module: nn.Module, tensor_name: str, **kwargs: Any) -> None:
        pass


def _declaring(**tags: Any) -> type:
    return type("Declaring", (_Declared,), {"prunebench_tags": tags})


def test_undeclared_class_gets_the_one_shot_contract_everywhere():
    assert tags_of(KeywordSaliencyPruner) == PrunerTags()
    assert PrunerTags().layer_types == LAYER_TYPES and PrunerTags().steps_for(object()) == 1


def test_examples_declare_what_they_are():
    assert tags_of(L1FilterPruner).layer_types == ("Conv2d",)
    gradual = GradualMagnitudeSparsifier(total_steps=6)
    assert tags_of(GradualMagnitudeSparsifier).steps_for(gradual) == 6


def test_a_rule_name_brings_its_tags_unless_the_class_declares_its_own():
    assert tags_of(KeywordSaliencyPruner, "WandaSparsifier").calibration
    assert tags_of(L1FilterPruner, "SaliencyPruner").layer_types == ("Conv2d",)


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"layer_type": ["Linear"]}, "unknown keys ['layer_type']"),
        ({"layer_types": ["Conv3d"]}, "names ['Conv3d']"),
        ({"layer_types": []}, "non-empty list"),
        ({"dtypes": ["float64"]}, "names ['float64']"),
        ({"steps_to_level": 0}, "an int >= 1"),
        ({"steps_to_level": "2 steps"}, "the name of a setting"),
        ({"deterministic": "yes"}, "must be True or False"),
    ],
)
def test_malformed_declarations_are_usage_errors(tags, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        tags_of(_declaring(**tags))


def test_a_named_schedule_setting_must_exist():
    sparsifier = _declaring(steps_to_level="ramp")()
    with pytest.raises(UsageError, match="no group, default or attribute holds an int >= 1"):
        tags_of(type(sparsifier)).steps_for(sparsifier)


def test_torch_calls_become_settings():
    assert settings_of_call("SaliencyPruner", ({"sparsity_level": 0.5},), {}) == {"sparsity_level": 0.5}
    assert settings_of_call("FPGMPruner", (), {"sparsity_level": 0.3, "dist": 1}) == {"sparsity_level": 0.3, "dist": 1}
    assert settings_of_call("SaliencyPruner", (), {"defaults": {"sparsity_level": 0.2}}) == {"sparsity_level": 0.2}
    with pytest.raises(TypeError, match="keyword settings or one defaults dict"):
        settings_of_call("SaliencyPruner", (0.5,), {})


class _KeywordsOnly:
    def __init__(self, sparsity_level: float = 0.5) -> None:
        self.sparsity_level = sparsity_level


class _DefaultsDict:
    def __init__(self, defaults: dict | None = None, prune_bias: bool = True) -> None:
        self.defaults, self.prune_bias = defaults, prune_bias


def test_settings_go_to_parameters_then_defaults_and_user_kwargs_fill_the_rest():
    assert ConstructorMap(_KeywordsOnly, "SaliencyPruner").arguments({"sparsity_level": 0.3}) == {"sparsity_level": 0.3}
    mapped = ConstructorMap(_DefaultsDict, "SaliencyPruner", {"defaults": {"x": 1}}).arguments(
        {"sparsity_level": 0.3, "prune_bias": False}
    )
    assert mapped == {"defaults": {"x": 1, "sparsity_level": 0.3}, "prune_bias": False}


def test_a_setting_the_constructor_cannot_take_is_unsupported_not_a_type_error():
    with pytest.raises(UnsupportedError, match=r"takes no 'norm' \(its parameters: sparsity_level\)"):
        ConstructorMap(_KeywordsOnly, "WeightNormSparsifier").arguments({"norm": 1})


def test_adapted_class_builds_as_torch_does_and_stays_the_users_class():
    adapted = adapted_class(KeywordSaliencyPruner, "SaliencyPruner", {}, PrunerTags())
    pruner = adapted({"sparsity_level": 0.25})
    assert isinstance(pruner, KeywordSaliencyPruner) and pruner.defaults["sparsity_level"] == 0.25
    check_buildable(adapted, "SaliencyPruner", {"defaults": {"sparsity_level": 0.5}})


def test_adapted_scheduled_class_runs_its_schedule_in_one_step():
    tags = tags_of(GradualMagnitudeSparsifier)
    adapted = adapted_class(GradualMagnitudeSparsifier, "WeightNormSparsifier", {}, tags)
    model = nn.Sequential(nn.Linear(8, 8))
    sparsifier = adapted(sparsity_level=0.5)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}])
    sparsifier.step()
    assert sparsifier.state["0.weight"]["step"] == 4
    assert float(model[0].parametrizations.weight[0].mask.mean()) == pytest.approx(0.5)
