"""Differential: every selection rule's masks equal the reference's, up to ties.

Shapes, levels, blocks and distances are drawn by hypothesis (derandomized, so runs are reproducible);
weights are signed with log-normal magnitudes (a seeded generator), so rows of many small entries meet
rows with one large entry and the L1, L2 and largest-entry rankings of rows disagree. Masks are judged
by ``assert_masks_equal_up_to_ties``: in every selection unit as many zeros as the reference's mask,
and no zeroed score above a kept one, with the scores computed here, exactly, from the contract's
definition of each rule (ties at the precision of the weight's dtype). Run against the reference
itself (the ``prunebench.reference_impl`` module, or one of its classes, by identity: never by a backend's
name), these checks are not applicable (the reference is their oracle) and say so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prunebench.harness.backend import Backend
from prunebench.harness.errors import NotApplicableError
from torch import nn

from prunebench import reference_impl

from .checks import (
    assert_block_masks_equal_up_to_ties,
    assert_masks_equal,
    assert_masks_equal_up_to_ties,
    kept,
    mask_of,
    original_of,
    reading_reference_masks,
)

EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
NOT_APPLICABLE = "the reference is the oracle of differential checks"
BLOCKS = [(1, 1), (1, 2), (1, 4), (4, 1), (2, 2), (3, 3), (2, 4)]
LEVELS = [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1.0]
TWO_OF_FOUR = 4  # Wanda's semi_structured_block_size for 2:4 sparsity
LSTM_GATES = 4


@pytest.fixture(autouse=True)
def _not_against_the_oracle(backend: Backend) -> None:
    """The oracle is this project's reference module itself, by identity: a backend that only calls itself
    ``reference`` (a fork of it, say) is checked like any other, class by class (``_backend_and_reference_masks``)."""
    if backend.namespace is reference_impl:
        raise NotApplicableError(NOT_APPLICABLE)


def _signed_weights(shape: Sequence[int], seed: int) -> torch.Tensor:
    """Signed float32 weights with log-normal magnitudes: a row's L1 and L2 rankings often disagree."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator) * torch.randn(shape, generator=generator).exp()


def _with_weights(model: nn.Module, seed: int, device: str, dtype: torch.dtype) -> nn.Module:
    """``model`` on ``device`` in ``dtype`` with every weight (not bias) drawn by ``_signed_weights``."""
    model = model.to(device=device, dtype=dtype)
    with torch.no_grad():
        for index, (name, parameter) in enumerate(model.named_parameters()):
            if "weight" in name:
                parameter.copy_(_signed_weights(parameter.shape, seed + index))
    return model


def _row_layer(kind: str, rows: int, inputs: int, kernel: int) -> nn.Module:
    """A bias-free Linear (``inputs`` features) or Conv2d (``inputs`` channels, square ``kernel``), ``rows`` outputs."""
    if kind == "linear":
        return nn.Linear(inputs, rows, bias=False)
    return nn.Conv2d(inputs, rows, kernel, bias=False)


def _masks_after_step(
    sparsifier: object, model: nn.Module, tensor_fqns: Sequence[str], calibration: Sequence[torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Prepare a copy of ``model`` for ``tensor_fqns``, run the calibration batches, step: the kept-masks on CPU."""
    model = copy.deepcopy(model)
    sparsifier.prepare(model, [{"tensor_fqn": fqn} for fqn in tensor_fqns])
    with torch.no_grad():
        for batch in calibration:
            model(batch)
    sparsifier.step()
    masks = {}
    for fqn in tensor_fqns:
        module_fqn, _, tensor_name = fqn.rpartition(".")
        masks[fqn] = kept(mask_of(model.get_submodule(module_fqn), tensor_name)).cpu()
    return masks


def _backend_and_reference_masks(
    backend: Backend,
    api_name: str,
    construct: Callable[[type], object],
    model: nn.Module,
    tensor_fqns: Sequence[str],
    calibration: Sequence[torch.Tensor] = (),
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The masks ``construct(backend's api_name)`` gives ``model`` after one step, and the reference's."""
    tested = backend.get(api_name)
    if tested is getattr(reference_impl, api_name):  # e.g. prunebench check of a reference class
        raise NotApplicableError(NOT_APPLICABLE)
    actual = _masks_after_step(construct(tested), model, tensor_fqns, calibration)
    with reading_reference_masks():
        expected = _masks_after_step(construct(getattr(reference_impl, api_name)), model, tensor_fqns, calibration)
    return actual, expected


# --- WeightNormSparsifier: which blocks (layer-wide, by mean norm), then which elements in each block ---


@st.composite
def weight_norm_cases(draw: st.DrawFn) -> tuple[tuple[int, int], dict, int]:
    """Shape, level, block, zeros per block and norm; partial-block zeros only on shapes of whole blocks.

    (Partial edge blocks with 0 < zeros_per_block < block size are checked by test_weight_norm on their own.)
    """
    block = draw(st.sampled_from(BLOCKS))
    rows, cols = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    size = block[0] * block[1]
    divisible = rows % block[0] == 0 and cols % block[1] == 0
    kwargs = {
        "sparsity_level": draw(st.sampled_from(LEVELS)),
        "sparse_block_shape": block,
        "zeros_per_block": draw(st.integers(0, size)) if divisible else size,
        "norm": draw(st.sampled_from([1, 2, None])),
    }
    return (rows, cols), kwargs, draw(st.integers(0, 2**31 - 1))


@pytest.mark.requires("WeightNormSparsifier")
@EXAMPLES
@given(case=weight_norm_cases())
def test_weight_norm_masks_match_reference(backend, device, dtype, case):
    shape, kwargs, seed = case
    model = _with_weights(nn.Sequential(nn.Linear(shape[1], shape[0], bias=False)), seed, device, dtype)
    actual, expected = _backend_and_reference_masks(
        backend, "WeightNormSparsifier", lambda cls: cls(**kwargs), model, ["0.weight"]
    )
    weight = model[0].weight.detach().double()
    element_scores = weight.abs() if kwargs["norm"] == 1 else weight.square()
    context = f"shape {shape}, {kwargs}, {dtype}, weight seed {seed}"
    assert_block_masks_equal_up_to_ties(
        actual["0.weight"],
        expected["0.weight"],
        element_scores,
        kwargs["sparse_block_shape"],
        "0.weight",
        context,
        precision=dtype,
    )


@pytest.mark.requires("NearlyDiagonalSparsifier")
@EXAMPLES
@given(rows=st.integers(1, 30), cols=st.integers(1, 30), half_width=st.integers(0, 14))
def test_nearly_diagonal_masks_match_reference(backend, device, rows, cols, half_width):
    nearliness = 2 * min(half_width, min(rows, cols) - 1) + 1
    model = nn.Sequential(nn.Linear(cols, rows, bias=False)).to(device)
    actual, expected = _backend_and_reference_masks(
        backend, "NearlyDiagonalSparsifier", lambda cls: cls(nearliness=nearliness), model, ["0.weight"]
    )
    context = f"shape {(rows, cols)}, nearliness {nearliness}"
    assert_masks_equal(actual["0.weight"], expected["0.weight"], "0.weight", context)


# --- structured pruners: which rows (filters, LSTM units) of a layer go ---


@st.composite
def row_layer_cases(draw: st.DrawFn) -> tuple[str, tuple[int, int, int], float, int]:
    """A Linear or Conv2d layer's kind and (rows, inputs, kernel), a level and a weight seed."""
    kind = draw(st.sampled_from(["linear", "conv2d"]))
    dims = (draw(st.integers(1, 16)), draw(st.integers(1, 6)), draw(st.integers(1, 3)) if kind == "conv2d" else 1)
    return kind, dims, draw(st.sampled_from(LEVELS)), draw(st.integers(0, 2**31 - 1))


def _row_layer_model(case: tuple[str, tuple[int, int, int], float, int], device: str, dtype: torch.dtype) -> nn.Module:
    kind, dims, _, seed = case
    return _with_weights(nn.Sequential(_row_layer(kind, *dims)), seed, device, dtype)


def _describe(case: tuple[str, tuple[int, int, int], float, int], dtype: torch.dtype) -> str:
    kind, (rows, inputs, kernel), level, seed = case
    layer = f"Linear({inputs}, {rows})" if kind == "linear" else f"Conv2d({inputs}, {rows}, {kernel})"
    return f"{layer}, sparsity_level={level}, {dtype}, weight seed {seed}"


def _rows(weight: torch.Tensor) -> torch.Tensor:
    """A weight as float64 (rows, everything else): its values exactly, one filter per row."""
    return weight.detach().double().reshape(weight.shape[0], -1)


@pytest.mark.requires("SaliencyPruner")
@EXAMPLES
@given(case=row_layer_cases())
def test_saliency_masks_match_reference(backend, device, dtype, case):
    level = case[2]
    model = _row_layer_model(case, device, dtype)
    actual, expected = _backend_and_reference_masks(
        backend, "SaliencyPruner", lambda cls: cls({"sparsity_level": level}), model, ["0.weight"]
    )
    l1_norms = _rows(model[0].weight).abs().sum(1)
    context = f"rows by L1 norm; {_describe(case, dtype)}"
    assert_masks_equal_up_to_ties(
        actual["0.weight"],
        expected["0.weight"],
        l1_norms,
        "layer",
        "0.weight",
        context,
        precision=dtype,
    )


@st.composite
def lstm_cases(draw: st.DrawFn) -> tuple[tuple[int, int, int], float, int]:
    """(input size, hidden size, layers), a level and a weight seed."""
    dims = (draw(st.integers(1, 6)), draw(st.integers(1, 10)), draw(st.integers(1, 2)))
    return dims, draw(st.sampled_from(LEVELS)), draw(st.integers(0, 2**31 - 1))


@pytest.mark.requires("LSTMSaliencyPruner")
@EXAMPLES
@given(case=lstm_cases())
def test_lstm_saliency_masks_match_reference(backend, device, dtype, case):
    (inputs, hidden, layers), level, seed = case
    model = _with_weights(nn.Sequential(nn.LSTM(inputs, hidden, layers)), seed, device, dtype)
    pairs = [(f"0.weight_ih_l{layer}", f"0.weight_hh_l{layer}") for layer in range(layers)]
    actual, expected = _backend_and_reference_masks(
        backend,
        "LSTMSaliencyPruner",
        lambda cls: cls({"sparsity_level": level}),
        model,
        [fqn for pair in pairs for fqn in pair],
    )
    context = (
        f"gates i, f, g, o; units by L1 saliency summed over every gate of ih and hh; LSTM({inputs}, {hidden}, "
        f"{layers}), sparsity_level={level}, {dtype}, weight seed {seed}"
    )
    for pair in pairs:
        # A hidden unit's saliency: the L1 norm of its rows in all four gates of weight_ih and weight_hh;
        # the units with the lowest go from every gate of both (the one mask set an exact pruned LSTM has).
        weights = [model.get_parameter(fqn) for fqn in pair]
        unit_saliency = sum(_rows(w).abs().sum(1).view(LSTM_GATES, hidden).sum(0) for w in weights)
        for fqn in pair:
            assert_masks_equal_up_to_ties(
                actual[fqn].view(LSTM_GATES, hidden),
                expected[fqn].view(LSTM_GATES, hidden),
                unit_saliency.expand(LSTM_GATES, hidden),
                "gate",
                fqn,
                context,
                precision=dtype,
            )


def _chebyshev_distance(rows: torch.Tensor) -> torch.Tensor:
    """Pairwise largest-entry distances: a callable ``dist`` the built-in 1 and 2 do not cover."""
    return (rows[:, None, :] - rows[None, :, :]).abs().amax(-1)


FPGM_DISTANCES: dict[str, tuple[int | Callable[[torch.Tensor], torch.Tensor], float]] = {
    "l1": (1, 1.0),
    "l2": (2, 2.0),
    "callable": (_chebyshev_distance, torch.inf),
}
"""The ``dist`` handed to the pruner, and the p of the pairwise p-norm distance it stands for."""


@pytest.mark.requires("FPGMPruner")
@pytest.mark.parametrize("distance", sorted(FPGM_DISTANCES))
@EXAMPLES
@given(case=row_layer_cases())
def test_fpgm_masks_match_reference(backend, device, dtype, distance, case):
    dist, p = FPGM_DISTANCES[distance]
    level = case[2]
    model = _row_layer_model(case, device, dtype)
    actual, expected = _backend_and_reference_masks(
        backend, "FPGMPruner", lambda cls: cls(sparsity_level=level, dist=dist), model, ["0.weight"]
    )
    rows = _rows(model[0].weight)
    summed_distance = torch.linalg.vector_norm(rows[:, None, :] - rows[None, :, :], ord=p, dim=-1).sum(1)
    context = f"filters by summed {distance} distance to the others; {_describe(case, dtype)}"
    assert_masks_equal_up_to_ties(
        actual["0.weight"],
        expected["0.weight"],
        summed_distance,
        "layer",
        "0.weight",
        context,
        precision=dtype,
    )


@st.composite
def wanda_cases(draw: st.DrawFn) -> tuple[tuple[int, int], dict, int]:
    """Shapes whose columns fit 2:4, a level (ignored under 2:4) and a seed for weights and calibration."""
    shape = (draw(st.integers(1, 12)), TWO_OF_FOUR * draw(st.integers(1, 6)))
    kwargs = {"sparsity_level": draw(st.sampled_from(LEVELS))}
    if draw(st.booleans()):
        kwargs["semi_structured_block_size"] = TWO_OF_FOUR
    return shape, kwargs, draw(st.integers(0, 2**31 - 1))


@pytest.mark.requires("WandaSparsifier")
@EXAMPLES
@given(case=wanda_cases())
def test_wanda_masks_match_reference(backend, device, dtype, case):
    (rows, cols), kwargs, seed = case
    model = _with_weights(nn.Sequential(nn.Linear(cols, rows, bias=False)), seed, device, dtype)
    generator = torch.Generator().manual_seed(seed)
    batches = [torch.randn(3, cols, generator=generator), torch.randn(2, 2, cols, generator=generator)]
    batches = [batch.to(device=device, dtype=dtype) for batch in batches]
    actual, expected = _backend_and_reference_masks(
        backend, "WandaSparsifier", lambda cls: cls(**kwargs), model, ["0.weight"], batches
    )
    # |W[i, j]| * ||X[:, j]||_2 over every calibration row, as the layer saw it (in its dtype)
    column_norms = torch.cat([batch.double().reshape(-1, cols) for batch in batches]).square().sum(0).sqrt()
    scores = model[0].weight.detach().double().abs() * column_norms
    unit = "output row"
    if "semi_structured_block_size" in kwargs:
        unit, shape = "1x4 block of an output row", (rows, cols // TWO_OF_FOUR, TWO_OF_FOUR)
        actual, expected, scores = actual["0.weight"].view(shape), expected["0.weight"].view(shape), scores.view(shape)
    else:
        actual, expected = actual["0.weight"], expected["0.weight"]
    context = f"shape {(rows, cols)}, {kwargs}, {dtype}, seed {seed}"
    assert_masks_equal_up_to_ties(actual, expected, scores, unit, "0.weight", context, precision=dtype)


# --- a short training trajectory: a scheduler raises the level while an optimizer changes the weights ---

TRAJECTORY_SEEDS = (0, 1, 2)
TRAJECTORY_LEVELS = (0.25, 0.5)
"""The level of the first step, then of the second, as a scheduler writes it into each group."""


@dataclass(frozen=True)
class Trajectory:
    """One rule on one small model: how to build it, what to configure and calibrate on."""

    api_name: str
    build: Callable[[type, float], object]
    model: Callable[[], nn.Module]
    tensor_fqns: tuple[str, ...]
    inputs: tuple[int, ...]


TRAJECTORIES: dict[str, Trajectory] = {
    "weight_norm_1x1": Trajectory(
        "WeightNormSparsifier",
        lambda cls, level: cls(sparsity_level=level, sparse_block_shape=(1, 1)),
        lambda: nn.Sequential(nn.Linear(16, 12, bias=False)),
        ("0.weight",),
        (5, 16),
    ),
    "weight_norm_1x4": Trajectory(
        "WeightNormSparsifier",
        lambda cls, level: cls(sparsity_level=level, sparse_block_shape=(1, 4), zeros_per_block=4),
        lambda: nn.Sequential(nn.Linear(16, 12, bias=False)),
        ("0.weight",),
        (5, 16),
    ),
    "saliency_conv2d": Trajectory(
        "SaliencyPruner",
        lambda cls, level: cls({"sparsity_level": level}),
        lambda: nn.Sequential(nn.Conv2d(3, 12, 3, bias=False)),
        ("0.weight",),
        (2, 3, 6, 6),
    ),
    "fpgm_linear": Trajectory(
        "FPGMPruner",
        lambda cls, level: cls(sparsity_level=level),
        lambda: nn.Sequential(nn.Linear(10, 12, bias=False)),
        ("0.weight",),
        (5, 10),
    ),
    "wanda": Trajectory(
        "WandaSparsifier",
        lambda cls, level: cls(sparsity_level=level),
        lambda: nn.Sequential(nn.Linear(16, 12, bias=False)),
        ("0.weight",),
        (5, 16),
    ),
}


def _trajectory_masks(sparsifier: object, model: nn.Module, trajectory: Trajectory, seed: int) -> dict:
    """Step at the first level, redraw the weights in place (an optimizer), raise every group's level (a
    scheduler), calibrate and step again: the kept-masks after the second step."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(trajectory.inputs, generator=generator)
    sparsifier.prepare(model, [{"tensor_fqn": fqn} for fqn in trajectory.tensor_fqns])
    for step, level in enumerate(TRAJECTORY_LEVELS):
        for group in sparsifier.groups:
            group["sparsity_level"] = level
        if step:
            for fqn in trajectory.tensor_fqns:
                module_fqn, _, name = fqn.rpartition(".")
                weight = original_of(model.get_submodule(module_fqn), name)
                with torch.no_grad():
                    weight.copy_(_signed_weights(weight.shape, seed + 1000))
        with torch.no_grad():
            model(x)
        sparsifier.step()
    return {fqn: kept(mask_of(*_module_and_name(model, fqn))).cpu() for fqn in trajectory.tensor_fqns}


def _module_and_name(model: nn.Module, fqn: str) -> tuple[nn.Module, str]:
    module_fqn, _, name = fqn.rpartition(".")
    return model.get_submodule(module_fqn), name


@pytest.mark.parametrize("name", sorted(TRAJECTORIES))
@pytest.mark.parametrize("seed", TRAJECTORY_SEEDS)
def test_trajectory_matches_reference(backend, device, name, seed):
    """Two steps with the weights changed in between, as in training with a pruning schedule: the masks
    still follow the rule (a class that reuses the first step's masks, or scores stale weights, differs).
    float32 and continuous random weights: no two scores tie, so the masks must be equal."""
    trajectory = TRAJECTORIES[name]
    tested = backend.get(trajectory.api_name)
    if tested is getattr(reference_impl, trajectory.api_name):
        raise NotApplicableError(NOT_APPLICABLE)
    model = _with_weights(trajectory.model(), seed, device, torch.float32)
    level = TRAJECTORY_LEVELS[0]
    actual = _trajectory_masks(trajectory.build(tested, level), copy.deepcopy(model), trajectory, seed)
    with reading_reference_masks():
        reference = trajectory.build(getattr(reference_impl, trajectory.api_name), level)
        expected = _trajectory_masks(reference, copy.deepcopy(model), trajectory, seed)
    for fqn in trajectory.tensor_fqns:
        assert_masks_equal(
            actual[fqn],
            expected[fqn],
            fqn,
            f"{name}: a step at sparsity_level={TRAJECTORY_LEVELS[0]}, the weights redrawn in place, a step at "
            f"{TRAJECTORY_LEVELS[1]} (weight seed {seed})",
        )
