"""The reference's one-shot pruners refuse what they cannot do with errors that name it, and never write NaN.

SparseGPT needs calibration inputs that span the layer's inputs (dampening covers too few of them, not none
at all); its own arguments are checked at the constructor. A failing prune through ``pruner_of_class`` leaves
the weights as they were.
"""

from __future__ import annotations

import pytest
import torch
from prunebench.harness.oneshot import SparsityPattern, pruner_of_class
from prunebench.reference_impl import OneShotMagnitudeSparsifier, SparseGPTSparsifier, WandaSparsifier
from torch import nn


def _prepared(sparsifier, inputs: torch.Tensor | None) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}])
    if inputs is not None:
        with torch.no_grad():
            model(inputs)
    return model


@pytest.mark.parametrize("cls", [SparseGPTSparsifier, WandaSparsifier])
def test_step_without_calibration_names_the_tensor(cls):
    sparsifier = cls()
    _prepared(sparsifier, None)
    with pytest.raises(RuntimeError, match=r"no activations for '0\.weight'"):
        sparsifier.step()


@pytest.mark.parametrize(
    ("inputs", "dampening", "message"),
    [
        (torch.zeros(16, 8), 0.01, r"every calibration input of '0\.weight' was zero"),
        (torch.full((16, 8), float("nan")), 0.01, r"calibration inputs of '0\.weight' hold inf or NaN"),
        (torch.randn(2, 8), 0.0, r"not positive definite with dampening=0\.0"),
    ],
    ids=["all_zero", "nan", "rank_deficient_undamped"],
)
def test_sparsegpt_refuses_calibration_it_cannot_invert(inputs, dampening, message):
    sparsifier = SparseGPTSparsifier(dampening=dampening)
    model = _prepared(sparsifier, inputs)
    before = model[0].parametrizations.weight.original.detach().clone()
    with pytest.raises(ValueError, match=message):
        sparsifier.step()
    assert torch.equal(model[0].parametrizations.weight.original, before), "a refused step changed the weights"


def test_sparsegpt_rank_deficient_but_dampened_stays_finite():
    sparsifier = SparseGPTSparsifier()
    inputs = torch.randn(2, 8)
    inputs[:, 0] = 0  # an input never seen, and two samples for eight inputs
    model = _prepared(sparsifier, inputs)
    sparsifier.step()
    sparsifier.squash_mask()
    assert model[0].weight.isfinite().all()
    assert int((model[0].weight == 0).sum()) == 16


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"dampening": -0.1}, ValueError, r"dampening must be finite and >= 0.*-0\.1"),
        ({"dampening": float("inf")}, ValueError, r"dampening must be finite and >= 0.*inf"),
        ({"dampening": "0.01"}, TypeError, r"dampening must be a real number >= 0, got '0\.01'"),
        ({"columns_per_block": 0}, ValueError, r"columns_per_block must be a positive int, got 0"),
        (
            {"semi_structured_block_size": 4, "columns_per_block": 6},
            ValueError,
            r"a multiple of semi_structured_block_size=4, got 6",
        ),
        ({"semi_structured_block_size": 3}, ValueError, r"an even int >= 2, got 3"),
    ],
    ids=["negative_dampening", "infinite_dampening", "string_dampening", "no_columns", "blocks_split_runs", "odd_m"],
)
def test_sparsegpt_arguments_are_checked_at_the_constructor(kwargs, error, message):
    with pytest.raises(error, match=message):
        SparseGPTSparsifier(**kwargs)


@pytest.mark.parametrize("cls", [SparseGPTSparsifier, WandaSparsifier, OneShotMagnitudeSparsifier])
def test_one_shot_rules_prune_linear_weights_only(cls):
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(
        ValueError, match=r"prunes a Linear weight along the layer's inputs; '0\.weight' is 'weight' of a Conv2d"
    ):
        cls().prepare(model, [{"tensor_fqn": "0.weight"}])


def test_a_failed_prune_leaves_the_weights_as_they_were():
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with pytest.raises(ValueError, match="was zero"):
        pruner_of_class(SparseGPTSparsifier).prune(model, [torch.zeros(4, 8)], SparsityPattern.unstructured(0.5), [])
    after = model.state_dict()
    assert after.keys() == before.keys(), "a failed prune left parametrizations on the model"
    assert all(torch.equal(after[name], tensor) for name, tensor in before.items()), "a failed prune changed weights"


def test_declared_tags_must_be_booleans():
    class Misdeclared(OneShotMagnitudeSparsifier):
        prunebench_tags = {"updates_weights": "yes"}  # noqa: RUF012 - a class attribute as users write it

    with pytest.raises(TypeError, match=r"prunebench_tags of Misdeclared: \{'updates_weights': 'yes'\} must be True"):
        pruner_of_class(Misdeclared)
