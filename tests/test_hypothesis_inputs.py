"""Generated input to the reference implementation: a correct result or a named error, nothing else.

Hypothesis draws constructor arguments (legal values and garbage: NaN, negatives, huge numbers,
wrong types, tuples of the wrong length), configs (lists of dicts naming existing or missing
tensors, duplicates, garbage), layer shapes (1..17 x 1..17) and dtypes. A small specification
below (``*_problems``) says which of those are bad and which values an error must name. The
property, per sparsifier:

* no problem: ``prepare`` and ``step`` succeed; masks have the contract's shape and dtype (the
  weight's for element-wise masks, holding 0 and 1; bool for row masks); the zero count is within
  rounding of the requested level; the masked forward runs in the layer's dtype (structured:
  ``prune()`` too, computing what the masked model did);
* a problem: a ``ValueError`` or ``TypeError`` whose message names one of the bad values, and the
  model carries no parametrization, bias hook or moved bias afterwards. A problem torch only finds
  at ``step`` (a NearlyDiagonal ``nearliness`` that is even or too wide) must raise there instead,
  after a successful ``prepare``.

Anything else (another exception, a silent acceptance, a half-prepared model) fails.

The examples are fixed (``derandomize=True``); ``PRUNEBENCH_HYPOTHESIS_EXAMPLES`` sets how many per
property (CI default below). Each test prints how many examples it tried and how they ended
(``pytest -rP`` shows it) and asserts that both outcomes occurred, so the strategies keep exercising
both sides.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from prunebench import reference_impl as ref
from tests.test_bad_input import leftovers

CI_EXAMPLES = 100
"""Examples per property in CI: the whole file stays under ~20 s on 2 cores."""

PROFILE = settings(
    max_examples=int(os.environ.get("PRUNEBENCH_HYPOTHESIS_EXAMPLES", CI_EXAMPLES)),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
COUNTS: Counter[tuple[str, str]] = Counter()
"""(property, outcome) -> examples; outcome is "valid" or the error type raised."""

TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-9}
"""Pruned-vs-masked output tolerance; half precision is checked for shape and dtype only."""

# -- strategies ------------------------------------------------------------------------------------


class Opaque:
    """An arbitrary object (its repr survives the deep copy a config entry goes through)."""

    def __repr__(self) -> str:
        return "<Opaque>"


GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**9), 10**9),
    st.lists(st.integers(-2, 5), max_size=3),
    st.tuples(st.floats(allow_nan=True)),
    st.builds(torch.tensor, st.floats(0, 1)),
    st.builds(Opaque),
)


def mostly(legal: st.SearchStrategy, bad: st.SearchStrategy, one_in: int = 5) -> st.SearchStrategy:
    """``bad`` about one draw in ``one_in``, else ``legal``: an example usually has at most one bad
    argument, so both outcomes stay well represented and errors are attributable."""
    return st.sampled_from(range(one_in)).flatmap(lambda pick: bad if pick == one_in - 1 else legal)


LEVELS = mostly(
    st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.5, 1 / 3, 1.0, 1.5, -0.5, math.inf])),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2), GARBAGE),
    one_in=10,
)
BLOCKS = mostly(
    st.one_of(st.tuples(st.integers(1, 6), st.integers(1, 6)), st.lists(st.integers(1, 20), min_size=2, max_size=2)),
    st.one_of(
        st.lists(st.integers(-2, 20), max_size=3),
        st.tuples(st.integers(-1, 3), st.floats(-1, 4)),
        st.tuples(st.booleans(), st.integers(1, 4)),
        GARBAGE,
    ),
    one_in=10,
)
ZEROS = mostly(st.one_of(st.none(), st.integers(0, 4)), st.one_of(st.integers(-2, 40), GARBAGE), one_in=10)
NORMS = mostly(st.sampled_from([None, 1, 2, torch.abs]), st.one_of(st.integers(-1, 5), GARBAGE), one_in=10)
NEARLINESS = mostly(st.sampled_from([-1, 0, 1, 3, 5]), st.one_of(st.integers(-3, 21), GARBAGE))
PRUNE_BIAS = mostly(st.booleans(), GARBAGE)
DTYPES = st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int32])
FQNS = mostly(
    st.sampled_from(["0.weight", "2.weight", ".2.weight"]),
    st.one_of(st.sampled_from(["0.bias", "1.weight", "9.weight", "weight", "0", ""]), GARBAGE),
)


@dataclass(frozen=True)
class ModelSpec:
    """``Sequential(Linear(in_features, hidden), ReLU(), Linear(hidden, out_features))``."""

    in_features: int
    hidden: int
    out_features: int
    bias: bool
    dtype: torch.dtype
    seed: int

    def build(self) -> nn.Sequential:
        torch.manual_seed(self.seed)
        layers = [nn.Linear(self.in_features, self.hidden, bias=self.bias), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Linear(self.hidden, self.out_features, bias=self.bias))
        if self.dtype.is_floating_point:
            return model.to(self.dtype)
        model[2].weight = nn.Parameter(model[2].weight.detach().to(self.dtype), requires_grad=False)
        return model

    def example_input(self) -> torch.Tensor:
        """The same input at every call (drawn from the spec's seed)."""
        generator = torch.Generator().manual_seed(self.seed)
        return torch.randn(2, self.in_features, generator=generator).to(self.dtype)


MODELS = st.builds(
    ModelSpec,
    st.integers(1, 17),
    st.integers(1, 17),
    st.integers(1, 17),
    st.booleans(),
    DTYPES,
    st.integers(0, 2**16),
)


def configs(settings_: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """None, [], lists of entries (with per-tensor settings, or broken), or not a list at all."""
    entry = st.fixed_dictionaries({"tensor_fqn": FQNS}, optional=settings_)
    broken_entry = st.one_of(
        GARBAGE,
        st.fixed_dictionaries({}, optional=settings_),  # no tensor_fqn
        st.fixed_dictionaries({"tensor_fqn": FQNS, 1: st.integers()}),  # a key that is no setting name
    )
    entries = mostly(entry, broken_entry)
    legal = st.one_of(st.none(), st.just([]), st.lists(entries, max_size=2), st.lists(entries, max_size=2).map(tuple))
    return mostly(legal, st.one_of(st.fixed_dictionaries({"tensor_fqn": FQNS}), GARBAGE))


# -- the specification: which inputs are bad, and what an error must name --------------------------

Problem = tuple[str, str]
"""(a word the message must contain, the bad value's repr it must contain)."""

GroupProblems = Callable[[dict[str, Any], torch.Tensor, str], list[Problem]]
"""The problems of one group (defaults merged with a config entry) for its tensor and tensor_fqn."""


def is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def level_problems(level: object, unit_interval: bool = False) -> list[Problem]:
    """A level is a real number other than NaN (in [0, 1] where ``unit_interval``)."""
    if not is_real(level) or (unit_interval and not 0 <= level <= 1):
        return [("sparsity_level", repr(level))]
    return []


def block_problems(block: object, zeros: object) -> list[Problem]:
    """A pair of positive ints; zeros_per_block an int in [0, block size] (None: the constructor's 'all')."""
    if not isinstance(block, (tuple, list)) or len(block) != 2 or not all(is_int(s) and s > 0 for s in block):
        return [("sparse_block_shape", repr(block))]
    if not is_int(zeros) or not 0 <= zeros <= block[0] * block[1]:
        return [("zeros_per_block", repr(zeros))]
    return []


def norm_problems(norm: object) -> list[Problem]:
    return [] if norm is None or callable(norm) or (is_int(norm) and norm in (1, 2)) else [("norm", repr(norm))]


def nearliness_problems(nearliness: object) -> list[Problem]:
    """An int (checked at construction and prepare)."""
    return [] if is_int(nearliness) else [("nearliness", repr(nearliness))]


def nearliness_value_problems(nearliness: object, shape: tuple[int, ...]) -> list[Problem]:
    """An int that, if positive, is odd and has its half-width inside ``shape`` (checked at step, as torch does)."""
    bad = is_int(nearliness) and nearliness > 0 and (nearliness % 2 == 0 or nearliness // 2 >= min(shape))
    return [("nearliness", repr(nearliness))] if bad else []


def config_problems(
    config: object,
    model: nn.Module,
    defaults: dict[str, Any],
    group_problems: GroupProblems,
) -> list[Problem]:
    """Every problem of ``config`` for ``model``: its shape first, then each entry's tensor and settings."""
    if config is None:
        config = [{"tensor_fqn": "0.weight"}, {"tensor_fqn": "2.weight"}]
    if not isinstance(config, (list, tuple)):
        return [("config", repr(config))]
    shape = [
        (f"config[{index}]", "")
        for index, entry in enumerate(config)
        if not isinstance(entry, dict) or "tensor_fqn" not in entry or not all(isinstance(k, str) for k in entry)
    ]
    if shape:
        return shape
    parameters = dict(model.named_parameters())
    problems, seen = [], set()
    for entry in config:
        fqn = entry["tensor_fqn"]
        tensor = parameters.get(fqn.lstrip(".")) if isinstance(fqn, str) else None
        if tensor is None or id(tensor) in seen:
            problems.append(("tensor_fqn", repr(fqn)))
            continue
        seen.add(id(tensor))
        if not tensor.dtype.is_floating_point:
            problems.append(("tensor_fqn", repr(fqn)))
        problems += group_problems({**defaults, **entry}, tensor, fqn)
    return problems


def weight_norm_group_problems(group: dict[str, Any], tensor: torch.Tensor, fqn: str) -> list[Problem]:
    too_flat = [("", repr(fqn))] if tensor.dim() < 2 else []
    blocks = block_problems(group["sparse_block_shape"], group["zeros_per_block"])
    return level_problems(group["sparsity_level"]) + blocks + too_flat


def nearly_diagonal_group_problems(group: dict[str, Any], tensor: torch.Tensor, fqn: str) -> list[Problem]:
    if tensor.dim() != 2:
        return [("", repr(fqn))]
    return nearliness_problems(group["nearliness"])


def nearly_diagonal_step_problems(group: dict[str, Any], tensor: torch.Tensor, fqn: str) -> list[Problem]:
    return nearliness_value_problems(group["nearliness"], tuple(tensor.shape))


def structured_group_problems(unit_interval: bool) -> GroupProblems:
    """Saliency wants a level in [0, 1], FPGM any real level; both mask only Linear weights here."""

    def problems(group: dict[str, Any], tensor: torch.Tensor, fqn: str) -> list[Problem]:
        found = [] if fqn.lstrip(".").endswith("weight") else [("", repr(fqn))]
        if not isinstance(group.get("prune_bias", True), bool):
            found.append(("prune_bias", repr(group["prune_bias"])))
        return found + level_problems(group.get("sparsity_level"), unit_interval)

    return problems


# -- running one example ---------------------------------------------------------------------------


@contextmanager
def outcome(name: str, problems: list[Problem], model: nn.Module | None) -> Iterator[None]:
    """Check one step of an example: no problem -> no error; problems -> a named ValueError/TypeError.

    A rejected example is counted here under its error type; the property counts a valid one at its end.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # clamped levels warn: legal, lossy input
            yield
    except (ValueError, TypeError) as error:
        COUNTS[name, type(error).__name__] += 1
        message = str(error)
        assert problems, f"rejected legal input with {type(error).__name__}: {message}"
        assert any(word in message and value in message for word, value in problems), (
            f"the error does not name a bad value {problems}: {message}"
        )
        left = leftovers(model) if model is not None else []
        assert not left, f"a failed prepare left {left}"
        return
    assert not problems, f"accepted bad input {problems} without an error"


def check_masked_forward(spec: ModelSpec, model: nn.Module) -> torch.Tensor:
    """Each parametrized weight is ``where(mask, original, 0)`` and the forward keeps the dtype.

    Only float models get here: an integer layer is legal when no config entry names it, but it has
    no forward.
    """
    for module in (model[0], model[2]):
        if hasattr(module, "parametrizations"):
            plist = module.parametrizations.weight
            keep = (plist[0].mask != 0).reshape(plist.original.shape[0], -1)
            expected = torch.where(keep, plist.original, torch.zeros((), dtype=spec.dtype))
            assert torch.equal(module.weight, expected), "the masked weight is not where(mask, weight, 0)"
    output = model(spec.example_input())
    assert output.dtype == spec.dtype and output.shape == (2, spec.out_features), f"{output.dtype} {output.shape}"
    return output


def block_zero_counts(mask: torch.Tensor, block: tuple[int, int]) -> list[tuple[int, int]]:
    """(zeros, elements) of every block of a 2-D mask tiled from the top left (edge blocks partial)."""
    rows, cols = mask.shape
    return [
        (int((mask[r : r + block[0], c : c + block[1]] == 0).sum()), mask[r : r + block[0], c : c + block[1]].numel())
        for r in range(0, rows, block[0])
        for c in range(0, cols, block[1])
    ]


def check_weight_norm_mask(mask: torch.Tensor, group: dict[str, Any]) -> None:
    """Zeroed blocks: ``round(level * blocks)`` (never all below level 1), each with zeros_per_block zeros."""
    level = min(max(float(group["sparsity_level"]), 0.0), 1.0)
    counts = block_zero_counts(mask, tuple(group["sparse_block_shape"]))
    zeroed = [(zeros, size) for zeros, size in counts if zeros]
    if group["zeros_per_block"] == 0 or level == 0:
        assert not zeroed, f"{len(zeroed)} blocks zeroed at level {level}, zeros_per_block {group['zeros_per_block']}"
        return
    blocks = len(counts)
    expected = blocks if level == 1 else level * blocks
    assert abs(len(zeroed) - expected) <= 0.5 or len(zeroed) == blocks - 1 < expected, (
        f"{len(zeroed)} of {blocks} blocks zeroed at sparsity_level {level}"
    )
    wrong = [(zeros, size) for zeros, size in zeroed if zeros != min(group["zeros_per_block"], size)]
    assert not wrong, f"zeroed blocks with (zeros, elements) {wrong}, zeros_per_block={group['zeros_per_block']}"


# -- the properties --------------------------------------------------------------------------------

WN_SETTINGS = {"sparsity_level": LEVELS, "sparse_block_shape": BLOCKS, "zeros_per_block": ZEROS}


def prepared(
    name: str,
    spec: ModelSpec,
    make: Callable[[], ref.BaseSparsifier],
    constructor_problems: list[Problem],
    group_problems: GroupProblems,
    config: object,
    step_problems: GroupProblems | None = None,
) -> tuple[ref.BaseSparsifier, nn.Module] | None:
    """Construct, prepare and step one example; None when it was (rightly) rejected on the way.

    ``group_problems`` must be rejected by ``prepare`` (leaving nothing behind), ``step_problems``
    (of a config ``prepare`` accepted) by ``step``.
    """
    model = spec.build()
    with outcome(name, constructor_problems, None):
        sparsifier = make()
    if constructor_problems:
        return None
    problems = config_problems(config, model, sparsifier.defaults, group_problems)
    late = config_problems(config, model, sparsifier.defaults, step_problems) if step_problems else []
    with outcome(name, problems, model):
        sparsifier.prepare(model, config)
        if not problems and step_problems is None:
            sparsifier.step()
    if problems:
        return None
    if step_problems is not None:
        with outcome(name, late, None):
            sparsifier.step()
    return None if late else (sparsifier, model)


def group_masks(sparsifier: ref.BaseSparsifier) -> list[tuple[dict[str, Any], torch.Tensor]]:
    """(group, mask) for every tensor the sparsifier masks."""
    return [(group, sparsifier.state[group["tensor_fqn"]]["mask"]) for group in sparsifier.groups]


@PROFILE
@given(MODELS, LEVELS, BLOCKS, ZEROS, NORMS, configs(WN_SETTINGS))
def _weight_norm_inputs(spec, level, block, zeros, norm, config):
    problems = level_problems(level) + block_problems(block, block_size(block) if zeros is None else zeros)
    problems += norm_problems(norm)
    make = functools.partial(ref.WeightNormSparsifier, level, block, zeros, norm)
    result = prepared("weight_norm", spec, make, problems, weight_norm_group_problems, config)
    if result is None:
        return
    sparsifier, model = result
    for group, mask in group_masks(sparsifier):
        weight = group["module"].parametrizations.weight.original
        assert mask.dtype == weight.dtype and mask.shape == weight.shape, f"mask {mask.dtype} {tuple(mask.shape)}"
        assert bool(((mask == 0) | (mask == 1)).all()), f"mask values other than 0 and 1: {mask}"
        check_weight_norm_mask(mask, group)
    if spec.dtype.is_floating_point:
        check_masked_forward(spec, model)
    COUNTS["weight_norm", "valid"] += 1


def block_size(block: object) -> object:
    """The constructor's default zeros_per_block: the whole block (0 for a bad block, rejected anyway)."""
    return block[0] * block[1] if not block_problems(block, 0) else 0


@PROFILE
@given(MODELS, NEARLINESS, configs({"nearliness": NEARLINESS}))
def _nearly_diagonal_inputs(spec, nearliness, config):
    make = functools.partial(ref.NearlyDiagonalSparsifier, nearliness)
    problems = nearliness_problems(nearliness)
    result = prepared(
        "nearly_diagonal", spec, make, problems, nearly_diagonal_group_problems, config, nearly_diagonal_step_problems
    )
    if result is None:
        return
    sparsifier, model = result
    for group, mask in group_masks(sparsifier):
        rows, cols = mask.shape
        distance = (torch.arange(rows)[:, None] - torch.arange(cols)[None, :]).abs()
        band = distance <= group["nearliness"] // 2 if group["nearliness"] > 0 else torch.zeros(rows, cols, dtype=bool)
        weight = group["module"].parametrizations.weight.original
        assert mask.dtype == weight.dtype and torch.equal(mask, band.to(mask.dtype)), (
            f"nearliness {group['nearliness']}: {mask}"
        )
    if spec.dtype.is_floating_point:
        check_masked_forward(spec, model)
    COUNTS["nearly_diagonal", "valid"] += 1


STRUCTURED_SETTINGS = {"sparsity_level": LEVELS, "prune_bias": PRUNE_BIAS}


def _structured_inputs(pruner: str, spec: ModelSpec, level: object, config: object) -> None:
    """Saliency / FPGM: constructor, prepare and step; then masks, forward and ``prune()``."""
    fpgm = pruner == "fpgm"
    problems = level_problems(level) if fpgm else []  # Saliency checks its level per tensor, at prepare
    make = (
        functools.partial(ref.FPGMPruner, level)
        if fpgm
        else functools.partial(ref.SaliencyPruner, {"sparsity_level": level})
    )
    result = prepared(pruner, spec, make, problems, structured_group_problems(not fpgm), config)
    if result is None:
        return
    sparsifier, model = result
    keep = {}
    for group, mask in group_masks(sparsifier):
        rows = group["module"].parametrizations.weight.original.shape[0]
        assert mask.dtype == torch.bool and mask.shape == (rows,), f"row mask {mask.dtype} {tuple(mask.shape)}"
        requested = min(max(float(group["sparsity_level"]), 0.0), 1.0) * rows
        masked = int((~mask).sum())
        assert abs(masked - requested) < 1, f"{masked} of {rows} rows masked at level {group['sparsity_level']}"
        keep[group["module_fqn"]] = mask.clone()
    COUNTS[pruner, "valid"] += 1
    if not spec.dtype.is_floating_point:
        return
    masked_output = check_masked_forward(spec, model)
    pruned_output = sparsifier.prune()(spec.example_input())
    if "2" in keep:
        masked_output = masked_output[:, keep["2"]]
    assert pruned_output.shape == masked_output.shape and pruned_output.dtype == spec.dtype
    if spec.dtype in TOLERANCE:
        tolerance = TOLERANCE[spec.dtype]
        torch.testing.assert_close(pruned_output, masked_output, atol=tolerance, rtol=tolerance)


@PROFILE
@given(MODELS, LEVELS, configs(STRUCTURED_SETTINGS))
def _saliency_inputs(spec, level, config):
    _structured_inputs("saliency", spec, level, config)


@PROFILE
@given(MODELS, LEVELS, configs(STRUCTURED_SETTINGS))
def _fpgm_inputs(spec, level, config):
    _structured_inputs("fpgm", spec, level, config)


STATE_MUTATIONS = st.sampled_from(["none", "none", "no_groups", "mask_garbage", "fqn_garbage", "setting_garbage"])


LOADERS: dict[str, Callable[[], ref.BaseSparsifier]] = {
    "weight_norm": lambda: ref.WeightNormSparsifier(0.5, (1, 2)),
    "saliency": lambda: ref.SaliencyPruner({"sparsity_level": 0.5}),
}
FLOAT_MODELS = MODELS.filter(lambda spec: spec.dtype.is_floating_point)
MODEL_PAIRS = st.tuples(FLOAT_MODELS, FLOAT_MODELS, st.booleans()).map(
    lambda drawn: (drawn[0], dataclasses.replace(drawn[0], seed=drawn[1].seed) if drawn[2] else drawn[1])
)
"""(source, target): half the time the same architecture with other weights, else any two models."""


@PROFILE
@given(MODEL_PAIRS, st.sampled_from(sorted(LOADERS)), STATE_MUTATIONS, GARBAGE)
def _load_state_inputs(specs, kind, mutation, garbage):
    """A state saved from one random model, possibly broken, loaded into another."""
    source_spec, target_spec = specs
    source, target = source_spec.build(), target_spec.build()
    saver, loader = LOADERS[kind](), LOADERS[kind]()
    saver.prepare(source, None)
    saver.step()
    loader.prepare(target, None)
    state_dict, problems = mutated_state(saver.state_dict(), mutation, garbage, kind)
    problems += shape_problems(saver, loader, state_dict)
    before = {fqn: entry["mask"].clone() for fqn, entry in loader.state.items()}
    with outcome(f"load_state_dict[{kind}]", problems, None):
        loader.load_state_dict(state_dict)
    if problems:
        assert all(torch.equal(loader.state[fqn]["mask"], mask) for fqn, mask in before.items()), "half loaded"
        return
    for fqn, entry in state_dict["state"].items():
        if isinstance(entry.get("mask"), torch.Tensor):
            assert torch.equal(loader.state[fqn]["mask"], entry["mask"]), f"{fqn}: the loaded mask differs"
    COUNTS[f"load_state_dict[{kind}]", "valid"] += 1


def mutated_state(state_dict: dict, mutation: str, garbage: object, kind: str) -> tuple[dict, list[Problem]]:
    """The state dict with one part broken, and the problems that makes."""
    groups = [dict(group) for group in state_dict["groups"]]
    state = {fqn: dict(entry) for fqn, entry in state_dict["state"].items()}
    if mutation == "no_groups":
        return {"state": state}, [("'groups'", "")]
    if mutation == "mask_garbage" and not isinstance(garbage, torch.Tensor):
        state["2.weight"]["mask"] = garbage
        return {"state": state, "groups": groups}, ([("mask", "")] if garbage is not None else [])
    if mutation == "fqn_garbage":
        groups[1]["tensor_fqn"] = garbage
        problem = ("tensor_fqn", "") if not isinstance(garbage, str) else ("", repr(garbage))
        return {"state": state, "groups": groups}, [problem]
    if mutation == "setting_garbage":
        groups[1]["sparsity_level"] = garbage
        unit_interval = kind == "saliency"
        return {"state": state, "groups": groups}, level_problems(garbage, unit_interval)
    return {"state": state, "groups": groups}, []


def shape_problems(saver: ref.BaseSparsifier, loader: ref.BaseSparsifier, state_dict: dict) -> list[Problem]:
    """Saved masks whose shape differs from the loader's tensor of the same fqn."""
    problems = []
    for fqn, entry in state_dict["state"].items():
        mask = entry.get("mask")
        if isinstance(mask, torch.Tensor) and mask.shape != loader.state[fqn]["mask"].shape:
            problems.append(("another model", repr(fqn)))
    return problems


PROPERTIES = {
    "weight_norm": (_weight_norm_inputs, ["weight_norm"]),
    "nearly_diagonal": (_nearly_diagonal_inputs, ["nearly_diagonal"]),
    "saliency": (_saliency_inputs, ["saliency"]),
    "fpgm": (_fpgm_inputs, ["fpgm"]),
    "load_state_dict": (_load_state_inputs, ["load_state_dict[weight_norm]", "load_state_dict[saliency]"]),
}


@pytest.mark.parametrize("name", PROPERTIES)
def test_generated_inputs(name, record_property):
    run, counted = PROPERTIES[name]
    run()
    counts = {f"{key}/{result}": n for (key, result), n in sorted(COUNTS.items()) if key in counted}
    total = sum(counts.values())
    print(f"{name}: {total} examples: {counts}")
    record_property("examples", total)
    valid = sum(n for label, n in counts.items() if label.endswith("/valid"))
    assert valid and total - valid, f"{name}: the strategies stopped covering both outcomes: {counts}"
