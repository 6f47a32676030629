"""The ``nn-utils-prune`` adapter: resolvable, masking with ``torch.nn.utils.prune``, squashing clean.

With its ``mask_access`` telling the suites where ``prune`` keeps masks, it passes every sparsifier
suite in float32, float16 and bfloat16, with no expected failure. Its expected failures are all the
generic checks' (``test_contract.py``): what ``prune``'s storage does to the model around the masks.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest
import torch
from prunebench.harness.api import SPARSIFIER_API
from prunebench.harness.backend import resolve_backend
from prunebench.harness.backends import nn_utils_prune as adapter
from prunebench.harness.xfails import load_xfails
from torch import nn
from torch.nn.utils import prune

from prunebench import reference_impl

from .conftest import SUITES

ADAPTER = "prunebench.harness.backends.nn_utils_prune"
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
SPARSIFIER_SUITES = [
    "constructor",
    "prepare",
    "step",
    "state_dict",
    "squash_mask",
    "convert",
    "weight_norm",
    "nearly_diagonal",
    "differential",
]
REPO_ROOT = SUITES.parent


def _linear(shape: tuple[int, int], dtype: torch.dtype = torch.float32, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(shape[1], shape[0], bias=False)).to(dtype)


def _masked(sparsifier: adapter.BaseSparsifier, model: nn.Module) -> nn.Module:
    sparsifier.prepare(model, None)
    sparsifier.step()
    return model


def test_resolves_with_name_version_and_the_sparsifier_names():
    backend = resolve_backend(ADAPTER)
    assert (backend.name, backend.version) == ("nn-utils-prune", torch.__version__)
    assert backend.provided() == list(SPARSIFIER_API), f"provided {backend.provided()}"
    entries = load_xfails(backend.xfails_file)
    outside = [entry.prefix for entry in entries if not entry.prefix.startswith("test_contract.py::")]
    assert entries and not outside, f"expected failures outside the generic checks: {outside}"
    assert backend.mask_access is adapter.mask_access


def test_masks_are_prunes_hooks_and_buffers():
    model = _linear((4, 8))
    original = model[0].weight
    adapter.WeightNormSparsifier(sparsity_level=0.5, sparse_block_shape=(1, 1)).prepare(model, None)
    hook = adapter.pruning_hook(model[0], "weight")
    assert type(hook) is prune.CustomFromMask is adapter.FakeSparsity, f"the pre-hook is {type(hook).__name__}"
    assert model[0].weight_orig is original, "weight_orig is not the model's own Parameter (optimizers would lose it)"
    assert sorted(model[0].state_dict()) == ["weight_mask", "weight_orig"]
    assert prune.is_pruned(model)


@pytest.mark.parametrize("sparsifier", ["weight_norm", "nearly_diagonal"])
def test_squash_leaves_no_orig_mask_or_hook(sparsifier):
    make = {
        "weight_norm": lambda: adapter.WeightNormSparsifier(sparsity_level=0.5),
        "nearly_diagonal": lambda: adapter.NearlyDiagonalSparsifier(nearliness=3),
    }[sparsifier]
    model = _linear((8, 8))
    sparsifier = make()
    _masked(sparsifier, model)
    kept = model[0].weight_mask.bool().clone()
    sparsifier.squash_mask()
    layer = model[0]
    assert not prune.is_pruned(model), f"pruning hooks left: {list(layer._forward_pre_hooks.values())}"
    assert dict(layer.named_parameters()).keys() == {"weight"} and not dict(layer.named_buffers())
    assert not hasattr(layer, "weight_orig") and not hasattr(layer, "weight_mask")
    assert isinstance(layer.weight, nn.Parameter)
    assert torch.count_nonzero(layer.weight.detach()[~kept]) == 0, "squash lost the mask's zeros"


def test_step_refreshes_the_masked_weight_without_a_forward():
    """``module.weight`` is an attribute the hook sets; the adapter runs the hook after each step."""
    model = _linear((4, 8))
    _masked(adapter.WeightNormSparsifier(sparsity_level=0.5, sparse_block_shape=(1, 1)), model)
    assert torch.equal(model[0].weight, model[0].weight_orig * model[0].weight_mask)
    assert int((model[0].weight == 0).sum()) == 16


def test_a_mask_grows_back_instead_of_stacking():
    """Steps replace the mask in place; re-applying ``prune`` would AND masks in a ``PruningContainer``."""
    model = _linear((4, 8))
    sparsifier = adapter.WeightNormSparsifier(sparsity_level=0.5, sparse_block_shape=(1, 1))
    _masked(sparsifier, model)
    buffer = model[0].weight_mask
    sparsifier.groups[0]["sparsity_level"] = 0.0
    sparsifier.step()
    assert model[0].weight_mask is buffer and bool(buffer.all()), "the mask did not grow back in place"
    assert not isinstance(adapter.pruning_hook(model[0], "weight"), prune.PruningContainer)


# --- 1x1 WeightNormSparsifier is prune.L1Unstructured: where a float amount would differ ---
N_ELEMENTS = 14


@pytest.mark.parametrize("level", [0.25, 0.3, 0.5, 0.7, 0.95])
def test_1x1_mask_is_l1_unstructureds(level):
    """Same count (both round half to even: 0.25 * 14 = 3.5 -> 4) and, ties aside, the same elements."""
    ours = _masked(adapter.WeightNormSparsifier(sparsity_level=level, sparse_block_shape=(1, 1)), _linear((1, 14)))
    theirs = prune.l1_unstructured(_linear((1, 14))[0], "weight", amount=level)
    assert torch.equal(ours[0].weight_mask, theirs.weight_mask)


@pytest.mark.parametrize(("level", "contract_zeros"), [(0.97, N_ELEMENTS - 1), (1.0, N_ELEMENTS)])
def test_a_float_amount_would_break_the_keep_one_rule(level, contract_zeros):
    """Below level 1 the contract keeps one element; ``amount=0.97`` zeros round(13.58) = all 14."""
    ours = _masked(adapter.WeightNormSparsifier(sparsity_level=level, sparse_block_shape=(1, 1)), _linear((1, 14)))
    theirs = prune.l1_unstructured(_linear((1, 14))[0], "weight", amount=level)
    assert int((ours[0].weight_mask == 0).sum()) == contract_zeros
    assert int((theirs.weight_mask == 0).sum()) == N_ELEMENTS


def test_prune_rejects_levels_the_contract_clamps():
    with pytest.raises(ValueError, match=r"amount=1\.5"):
        prune.L1Unstructured(amount=1.5)
    with pytest.warns(UserWarning, match="outside"):
        model = _masked(adapter.WeightNormSparsifier(sparsity_level=1.5, sparse_block_shape=(1, 1)), _linear((2, 4)))
    assert not model[0].weight_mask.any()


# --- dtypes ---
@pytest.mark.parametrize("weight_dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("block", "zeros"), [((1, 1), 1), ((1, 4), 2)], ids=["1x1", "2of4"])
def test_masks_keep_the_weight_dtype(weight_dtype, block, zeros):
    """``CustomFromMask`` stores the mask in the weight's dtype and ``apply_mask`` casts to it: no promotion."""
    model = _linear((8, 16), weight_dtype)
    level = 1.0 if zeros < block[0] * block[1] else 0.5
    _masked(adapter.WeightNormSparsifier(sparsity_level=level, sparse_block_shape=block, zeros_per_block=zeros), model)
    layer = model[0]
    assert layer.weight_mask.dtype == layer.weight.dtype == weight_dtype
    x = torch.randn(3, 16, dtype=weight_dtype)
    assert model(x).dtype == weight_dtype
    expected = x @ (layer.weight_orig * layer.weight_mask).T
    torch.testing.assert_close(model(x), expected)


SMALL_WEIGHT_SCALE = 1e-3
"""float16 squares of weights this small underflow or round into ties (torch.ao ranks ``w * w`` in float16)."""


@pytest.mark.parametrize("weight_dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("block", [(1, 1), (1, 4)], ids=["1x1", "1x4"])
@pytest.mark.parametrize("seed", range(3))
def test_half_weights_rank_exactly(weight_dtype, block, seed):
    """Masks equal the reference's: ``L1Unstructured`` ranks ``|w|`` (exact), the adapter's blocks rank in float32."""
    weight = (torch.randn(8, 16, generator=torch.Generator().manual_seed(seed)) * SMALL_WEIGHT_SCALE).to(weight_dtype)
    masks = []
    for sparsifier_class in (adapter.WeightNormSparsifier, reference_impl.WeightNormSparsifier):
        model = nn.Sequential(nn.Linear(16, 8, bias=False)).to(weight_dtype)
        with torch.no_grad():
            model[0].weight.copy_(weight)
        sparsifier = sparsifier_class(sparsity_level=0.5, sparse_block_shape=block)
        _masked(sparsifier, model)
        masks.append(sparsifier.state["0.weight"]["mask"])  # both keep the live mask there
    assert torch.equal(masks[0].bool(), masks[1].bool())


@pytest.mark.parametrize("weight_dtype", DTYPES, ids=str)
def test_loading_a_bool_mask_into_a_half_model(weight_dtype):
    """A bool mask (as torch.ao and the reference save them) is copied into the weight-dtype buffer."""
    saved_model = nn.Sequential(nn.Linear(8, 4, bias=False))
    saved = reference_impl.WeightNormSparsifier(sparsity_level=0.5, sparse_block_shape=(1, 1))
    _masked(saved, saved_model)
    state = saved.state_dict()
    mask = state["state"]["0.weight"]["mask"]
    model = _linear((4, 8), weight_dtype)
    sparsifier = adapter.WeightNormSparsifier()
    sparsifier.prepare(model, None)
    sparsifier.load_state_dict(state)
    assert model[0].weight_mask.dtype == weight_dtype
    assert torch.equal(model[0].weight_mask.bool(), mask.bool())
    assert state["state"]["0.weight"]["mask"] is mask, "load_state_dict replaced the caller's mask"
    sparsifier.squash_mask()
    assert model[0].weight.dtype == weight_dtype and isinstance(model[0].weight, nn.Parameter)


# --- convert(inplace=False) and pytorch#37322 ---
class FromDense(nn.Linear):
    """A Linear built from a dense one by ``from_dense``, copying its (masked) weight."""

    @classmethod
    def from_dense(cls, dense: nn.Linear) -> FromDense:
        swapped = cls(dense.in_features, dense.out_features, bias=dense.bias is not None)
        with torch.no_grad():
            swapped.weight.copy_(dense.weight)
        return swapped


def test_a_pruned_model_cannot_be_deep_copied_but_converts():
    """Evidence for the adapter's deepcopy work-around: ``prune``'s hook result is a non-leaf tensor.

    When this fails because deepcopy works, torch fixed pytorch#37322 and ``_deepcopy_pruned`` can go.
    """
    model = _linear((4, 8))
    sparsifier = adapter.WeightNormSparsifier(sparsity_level=0.5, sparse_block_shape=(1, 1))
    _masked(sparsifier, model)
    model(torch.randn(2, 8))  # the forward pre-hook sets model[0].weight with autograd on
    with pytest.raises(RuntimeError, match="deepcopy"):
        copy.deepcopy(model)
    converted = sparsifier.convert(model, mapping={nn.Linear: FromDense}, inplace=False)
    assert type(converted[0]) is FromDense and torch.equal(converted[0].weight, model[0].weight.detach())
    assert model[0].weight.grad_fn is not None, "convert changed the source model's masked weight"


# --- the suites ---


def test_every_sparsifier_suite_passes_reading_prunes_buffers():
    """The whole sparsifier contract, every dtype, in a separate pytest run: nothing fails, nothing xfails.

    The differential suite also checks the pruners' rules; those tests are unsupported here (skipped naming
    the pruner), and nothing else may be skipped.
    """
    suites = [str(SUITES / f"test_{suite}.py") for suite in SPARSIFIER_SUITES]
    command = [sys.executable, "-m", "pytest", *suites, f"--backend={ADAPTER}", "-q", "-p", "no:cacheprovider"]
    command += ["--dtype=float32,float16,bfloat16", "-p", "no:xdist", "-p", "no:randomly", "-rs"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.match(r"\d+ passed(, \d+ skipped)? in ", summary), f"expected only passes, got: {summary}"
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    missing = [re.search(r"does not provide (\w+)", line) for line in skipped]
    wrong = [line for line, name in zip(skipped, missing, strict=True) if not name or name[1] in SPARSIFIER_API]
    assert not wrong, f"skipped for another reason than a pruner name the adapter does not provide: {wrong}"
