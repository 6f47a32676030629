"""The one-shot suite: SparseGPT, Wanda, magnitude and any other one-shot pruner, against the one-shot contract.

``test_oneshot`` runs every check of ``suites/oneshot_checks.py`` on every one-shot pruner the backend
provides (``harness.oneshot``: its ``SparseGPTSparsifier`` / ``WandaSparsifier`` / ``OneShotMagnitudeSparsifier``
classes and its ``oneshot_pruners`` records), at 50% and 2:4, on the Linear stack and the tiny Llama; ids read
``[backend-Pruner-device-dtype-pattern-model-check]``. The ``*_definition`` tests hold the classes that claim
SparseGPT's or Wanda's rule to the papers' definitions, on layers small enough to compute the exact answer
(``suites/oneshot_definitions.py``).
"""

from __future__ import annotations

import pytest
import torch
from prunebench.harness.oneshot import ONESHOT_KIND, SparsityPattern
from torch import nn

from . import oneshot_checks as checks
from . import oneshot_definitions as definitions
from .checks import kept, original_of
from .oneshot_cases import Case
from .oneshot_models import ONESHOT_MODELS

PATTERNS = (SparsityPattern.unstructured(0.5), SparsityPattern.n_of_m(2, 4))


@pytest.mark.subjects(ONESHOT_KIND)
@pytest.mark.parametrize("check", checks.ONESHOT_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("model_name", list(ONESHOT_MODELS))
@pytest.mark.parametrize("pattern", PATTERNS, ids=[pattern.id for pattern in PATTERNS])
def test_oneshot(backend, subject, device, dtype, pattern, model_name, check):
    check(Case.of(backend, subject, model_name, pattern, device, dtype))


# -- the rules against their definitions (float64, exact answers) -------------------------------------

DEFINITION_DTYPE = torch.float64
"""Exact answers are compared in float64, where rounding cannot hide a wrong formula."""
DEFINITION_TOLERANCE = 1e-9
DEFAULT_DAMPENING = 0.01
"""SparseGPT's dampening when not given (the paper's 1% of the mean Hessian diagonal)."""


def _calibrated_layer(sparsifier, weight: torch.Tensor, inputs: torch.Tensor, device: str) -> nn.Linear:
    """``Linear`` with ``weight`` (no bias), prepared by ``sparsifier``, calibrated on ``inputs``, stepped."""
    model = nn.Sequential(nn.Linear(weight.shape[1], weight.shape[0], bias=False)).to(device, DEFINITION_DTYPE)
    with torch.no_grad():
        model[0].weight.copy_(weight)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}])
    with torch.no_grad():
        model(inputs.to(device=device, dtype=DEFINITION_DTYPE))
    sparsifier.step()
    return model[0]


FEATURE_SPREAD = 2.0
"""Log-normal spread of the inputs' per-feature scales: wide, so that a rule ignoring them picks other weights."""


def _feature_scales(features: int) -> torch.Tensor:
    return torch.exp(FEATURE_SPREAD * torch.randn(features, dtype=DEFINITION_DTYPE))


def _correlated_inputs(samples: int, features: int) -> torch.Tensor:
    """Input rows whose features are correlated (a random mixing), so the OBS update matters, and differently
    loud (``_feature_scales``)."""
    mixing = torch.randn(features, features, dtype=DEFINITION_DTYPE)
    return torch.randn(samples, features, dtype=DEFINITION_DTYPE) @ mixing * _feature_scales(features)


def _signed_weights(rows: int, columns: int) -> torch.Tensor:
    """Weights of magnitude 0.5 to 1.5 and random sign: magnitudes alone rank them differently from any scores
    that weigh the inputs."""
    magnitudes = 0.5 + torch.rand(rows, columns, dtype=DEFINITION_DTYPE)
    return magnitudes * torch.randn(rows, columns, dtype=DEFINITION_DTYPE).sign()


def _assert_layer(layer: nn.Linear, weight: torch.Tensor, keep: torch.Tensor, what: str) -> None:
    actual_keep = kept(layer.parametrizations.weight[0].mask).cpu()
    assert actual_keep.tolist() == keep.tolist(), (
        f"{what}: kept {actual_keep.int().tolist()}, the definition keeps {keep.int().tolist()}"
    )
    actual = torch.where(actual_keep, original_of(layer).detach().cpu(), 0)
    worst = float((actual - weight).abs().max())
    assert worst <= DEFINITION_TOLERANCE * max(1.0, float(weight.abs().max())), (
        f"{what}: pruned weights differ from the definition's by up to {worst:.3g}\n"
        f"actual   {actual.tolist()}\nexpected {weight.tolist()}"
    )


@pytest.mark.requires("SparseGPTSparsifier")
def test_sparsegpt_one_weight_is_the_obs_step(backend, device):
    # One row, eight inputs, w_0 far the smallest: pruning one weight (1/8) takes w_0, and the rest move by
    # the Optimal Brain Surgeon step delta = -(w_0 / [H^-1]_00) * H^-1[0, :], in closed form.
    weight = torch.randn(1, 8, dtype=DEFINITION_DTYPE).sign() * (1 + torch.rand(1, 8, dtype=DEFINITION_DTYPE))
    weight[0, 0] = 1e-3
    inputs = _correlated_inputs(64, 8)
    layer = _calibrated_layer(backend.get("SparseGPTSparsifier")(sparsity_level=1 / 8), weight, inputs, device)
    inverse = torch.linalg.inv(definitions.damped_hessian(inputs, DEFAULT_DAMPENING))
    expected = weight - (weight[0, 0] / inverse[0, 0]) * inverse[0]
    keep = torch.ones(1, 8, dtype=torch.bool)
    keep[0, 0] = False
    _assert_layer(layer, expected.masked_fill(~keep, 0), keep, "SparseGPT pruning one weight")


COLUMNS_PER_BLOCK = 8
"""Two blocks of the 16-input layer: the mask of the second is chosen after the first's updates."""


@pytest.mark.requires("SparseGPTSparsifier")
@pytest.mark.parametrize("pattern", PATTERNS, ids=[pattern.id for pattern in PATTERNS])
def test_sparsegpt_definition(backend, device, pattern):
    weight, inputs = torch.randn(4, 16, dtype=DEFINITION_DTYPE), _correlated_inputs(64, 16)
    sparsifier = backend.get("SparseGPTSparsifier")(
        sparsity_level=pattern.sparsity_level, semi_structured_block_size=pattern.m, columns_per_block=COLUMNS_PER_BLOCK
    )
    layer = _calibrated_layer(sparsifier, weight, inputs, device)
    hessian = definitions.damped_hessian(inputs, DEFAULT_DAMPENING)
    expected, keep = definitions.sparsegpt_by_definition(
        weight, hessian, pattern.sparsity_level, pattern.m, COLUMNS_PER_BLOCK
    )
    _assert_layer(layer, expected, keep, f"SparseGPT at {pattern.label}, blocks of {COLUMNS_PER_BLOCK} columns")


UNCORRELATED_RULES = {"SparseGPTSparsifier": {"dampening": 0.0}, "WandaSparsifier": {}}
"""Rules whose 2:4 mask is the error-minimising one when inputs are uncorrelated, and their arguments (no
dampening: with a diagonal Hessian SparseGPT's scores are then exactly each weight's error)."""


@pytest.mark.parametrize("rule", list(UNCORRELATED_RULES))
def test_n_of_m_mask_is_optimal_for_uncorrelated_inputs(backend, device, rule):
    # Inputs along the coordinate axes: X^T X is diagonal, a weight's contribution to the error is w^2 * H_jj
    # whatever else is pruned, and no update can help. The best 2:4 mask of each row, by brute force over all
    # 6^4 of them, keeps the highest w^2 * H_jj of each run: SparseGPT's and Wanda's rules must both find it.
    weight, scales = _signed_weights(4, 16), _feature_scales(16)
    inputs = torch.diag(scales).repeat(2, 1)
    sparsifier = backend.get(rule)(semi_structured_block_size=4, **UNCORRELATED_RULES[rule])
    layer = _calibrated_layer(sparsifier, weight, inputs, device)
    keep = definitions.best_n_of_m_mask(weight.square() * scales.square(), 2, 4)
    _assert_layer(layer, weight.masked_fill(~keep, 0), keep, f"{rule} at 2:4, uncorrelated inputs")


@pytest.mark.requires("WandaSparsifier")
def test_wanda_n_of_m_definition_by_brute_force(backend, device):
    # Correlated inputs: Wanda keeps, of every run of 4 inputs of a row, the 2 with the highest |W| * ||X_j||.
    weight, inputs = _signed_weights(4, 16), _correlated_inputs(32, 16)
    layer = _calibrated_layer(backend.get("WandaSparsifier")(semi_structured_block_size=4), weight, inputs, device)
    keep = definitions.best_n_of_m_mask(weight.abs() * inputs.norm(dim=0), 2, 4)
    _assert_layer(layer, weight.masked_fill(~keep, 0), keep, "Wanda at 2:4 (|W| * ||X_j||, brute force)")
