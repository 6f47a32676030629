"""Assertions that explain themselves: a conformance failure message is the product.

Each check names the tensor, what was found and what the contract expects, e.g.
"mask of 'seq.0.weight' has 37.5% zeros, expected 50.0% (sparsity_level=0.5, block 1x4)".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F
from prunebench.harness.mask_access import active_mask_access, using_mask_access
from torch import nn


def mask_of(module: nn.Module, tensor_name: str = "weight") -> torch.Tensor:
    """The live mask of ``module.<tensor_name>``, wherever the backend keeps it (``harness.mask_access``)."""
    mask = active_mask_access().mask_of(module, tensor_name)
    assert mask is not None, f"{type(module).__name__}.{tensor_name} carries no mask"
    return mask


def reading_reference_masks() -> contextlib.AbstractContextManager[None]:
    """Read masks as ``reference_impl`` keeps them (parametrizations) while inside, whatever the backend.

    For the expected side of a differential test, which runs the reference next to the backend.
    """
    return using_mask_access(None)


def mask_holder(module: nn.Module, tensor_name: str = "weight") -> object | None:
    """The backend's ``FakeSparsity`` object applying the mask of ``module.<tensor_name>``, or None."""
    return active_mask_access().mask_holder(module, tensor_name)


def original_of(module: nn.Module, tensor_name: str = "weight") -> torch.Tensor:
    """The unmasked tensor behind ``module.<tensor_name>`` (writes to it change the weight)."""
    return active_mask_access().original_of(module, tensor_name)


def is_masked(module: nn.Module, tensor_name: str | None = "weight") -> bool:
    return active_mask_access().is_masked(module, tensor_name)


def kept(mask: torch.Tensor) -> torch.Tensor:
    """A mask as bool (True = weight kept), whatever dtype the backend stores it in."""
    return mask if mask.dtype == torch.bool else mask != 0


def zero_fraction(mask: torch.Tensor) -> float:
    return 1.0 - kept(mask).float().mean().item()


def assert_zero_fraction(mask: torch.Tensor, expected: float, what: str, context: str = "") -> None:
    actual = zero_fraction(mask)
    assert abs(actual - expected) < 1e-6, f"mask of {what!r} has {actual:.1%} zeros, expected {expected:.1%}" + (
        f" ({context})" if context else ""
    )


def assert_masks_equal(actual: torch.Tensor, expected: torch.Tensor, what: str, context: str = "") -> None:
    actual_kept, expected_kept = kept(actual).cpu(), kept(expected).cpu()
    assert actual_kept.shape == expected_kept.shape, (
        f"mask of {what!r} has shape {tuple(actual_kept.shape)}, expected {tuple(expected_kept.shape)}"
    )
    differ = (actual_kept != expected_kept).nonzero().tolist()
    assert not differ, (
        f"mask of {what!r} differs from the expected mask at {len(differ)} of {actual_kept.numel()} "
        f"positions, first {differ[:5]}" + (f" ({context})" if context else "")
    )


TIE_ROUNDINGS = 2
"""How many of the weight dtype's ``eps`` (relative) two scores may differ by and still tie: a rule that
computes in that dtype rounds each score at most about twice (its element scores, e.g. ``w * w``, and
its result, e.g. a block mean), so each may sit up to one ``eps`` from its exact value and a pair of
them up to two apart, in either order."""


def assert_masks_equal_up_to_ties(
    actual: torch.Tensor,
    expected: torch.Tensor,
    scores: torch.Tensor,
    unit: str,
    what: str,
    context: str = "",
    *,
    precision: torch.dtype | None = None,
) -> None:
    """``actual`` selects what ``expected`` selects, except where scores tie.

    The three tensors share one shape ``(*units, items)``: the last dim holds the items one selection
    ranks against each other (the blocks of a layer-wide rule, the elements of a block, the weights of
    an output row, the rows of a layer), each leading index is one selection unit, named ``unit`` in
    messages ("block", "output row"; a 1-D shape is one unit). ``scores`` are the rule's scores, exact
    (computed in float64 from the weight's values), lowest zeroed first.

    Per unit, ``actual`` must zero as many items as ``expected``, and no zeroed item may score above a
    kept one. Which of several tied items goes is no part of the contract (``torch.topk`` decides, and
    differently on CPU and CUDA), and a rule computing in ``precision`` (the weight's dtype; default
    ``scores.dtype``) cannot tell apart scores within ``TIE_ROUNDINGS`` of its ``eps``: those tie too.
    """
    precision = precision or scores.dtype
    actual_kept, expected_kept, scores = kept(actual).cpu(), kept(expected).cpu(), scores.detach().cpu().double()
    shapes = {tuple(t.shape) for t in (actual_kept, expected_kept, scores)}
    assert len(shapes) == 1, (
        f"mask of {what!r} has shape {tuple(actual_kept.shape)}, expected {tuple(expected_kept.shape)} "
        f"(scores {tuple(scores.shape)})"
    )
    assert bool(scores.isfinite().all()), f"scores of {what!r} are not all finite: ties cannot be judged"
    suffix = f" ({context})" if context else ""
    unit_shape, items = actual_kept.shape[:-1], scores.shape[-1]

    def name(flat_unit: int) -> str:
        if not unit_shape:
            return unit
        index = []
        for size in reversed(unit_shape):
            flat_unit, position = divmod(flat_unit, size)
            index.insert(0, position)
        return f"{unit} {tuple(index)}"

    actual_kept, expected_kept, scores = (t.reshape(-1, items) for t in (actual_kept, expected_kept, scores))
    zeros, expected_zeros = (~actual_kept).sum(-1), (~expected_kept).sum(-1)
    miscounted = (zeros != expected_zeros).nonzero().flatten().tolist()
    assert not miscounted, (
        f"mask of {what!r} differs from the expected mask: {name(miscounted[0])} has {int(zeros[miscounted[0]])} "
        f"zeros, expected {int(expected_zeros[miscounted[0]])} ({len(miscounted)} of {len(zeros)} units "
        f"miscounted){suffix}"
    )
    zeroed_scores = torch.where(actual_kept, -torch.inf, scores)
    kept_scores = torch.where(actual_kept, scores, torch.inf)
    highest_zeroed, lowest_kept = zeroed_scores.amax(-1), kept_scores.amin(-1)
    tolerance = TIE_ROUNDINGS * torch.finfo(precision).eps * torch.maximum(highest_zeroed.abs(), lowest_kept.abs())
    inverted = (highest_zeroed - lowest_kept > tolerance).nonzero().flatten().tolist()
    first = inverted[0] if inverted else 0
    assert not inverted, (
        f"mask of {what!r} differs from the expected mask beyond ties: {name(first)} zeroes a higher score than "
        f"it keeps: item {int(zeroed_scores[first].argmax())} zeroed with score {float(highest_zeroed[first]):.6g}, "
        f"item {int(kept_scores[first].argmin())} kept with score {float(lowest_kept[first]):.6g} (inverted in "
        f"{len(inverted)} of {len(zeros)} units; scores within {TIE_ROUNDINGS} eps of {precision} tie){suffix}"
    )


NEVER_ZEROED = torch.finfo(torch.float64).max
"""Score of the padding that fills partial edge blocks up to the block shape: ranks after every element."""
INF_RANK, NAN_RANK = NEVER_ZEROED / 8, NEVER_ZEROED / 4
"""Finite stand-ins for +inf and NaN scores, in the contract's order (finite, then +inf, then NaN last)."""


def as_blocks(tensor: torch.Tensor, block: tuple[int, int], fill: float | bool) -> torch.Tensor:
    """2-D ``tensor`` padded with ``fill`` to whole blocks, as (grid rows, grid cols, elements of a block)."""
    rows, cols = tensor.shape
    padded = F.pad(tensor.double(), (0, -cols % block[1], 0, -rows % block[0]), value=float(fill)).to(tensor.dtype)
    grid = (padded.shape[0] // block[0], padded.shape[1] // block[1])
    return padded.reshape(grid[0], block[0], grid[1], block[1]).transpose(1, 2).reshape(*grid, block[0] * block[1])


def assert_block_masks_equal_up_to_ties(
    actual: torch.Tensor,
    expected: torch.Tensor,
    element_scores: torch.Tensor,
    block: tuple[int, int],
    what: str,
    context: str = "",
    *,
    precision: torch.dtype | None = None,
) -> None:
    """Masks of the block rule (``WeightNormSparsifier``), judged by ``assert_masks_equal_up_to_ties`` as made.

    ``element_scores`` are the exact scores (e.g. float64 norms) of the 2-D weight's elements; a block
    scores their mean (an edge block: over the elements it has). First the blocks a mask zeroes
    anything in, layer-wide, by mean; then the elements of every block both masks zero something in
    (a block that a tie gave to one mask only was judged as a block). +inf and NaN scores rank after
    every finite one, NaN last.
    """
    scores = element_scores.detach().double()
    means = as_blocks(scores, block, 0.0).sum(-1) / as_blocks(torch.ones_like(scores), block, 0.0).sum(-1)
    actual_blocks, expected_blocks = (as_blocks(kept(mask).cpu(), block, True) for mask in (actual, expected))
    untouched = actual_blocks.all(-1), expected_blocks.all(-1)
    assert_masks_equal_up_to_ties(
        *(blocks.flatten() for blocks in untouched),
        _ranked(means).flatten(),
        "layer of blocks",
        what,
        context,
        precision=precision,
    )
    outside = (untouched[0] | untouched[1])[..., None]  # judged above only: every element counts as kept
    assert_masks_equal_up_to_ties(
        actual_blocks | outside,
        expected_blocks | outside,
        _ranked(as_blocks(scores, block, NEVER_ZEROED)),
        "block",
        what,
        context,
        precision=precision,
    )


def _ranked(scores: torch.Tensor) -> torch.Tensor:
    """``scores`` with +inf and NaN replaced by finite stand-ins of the same rank (-inf: below every score)."""
    return scores.nan_to_num(nan=NAN_RANK, posinf=INF_RANK, neginf=-INF_RANK)


def assert_parametrized(model: nn.Module, module_fqns: Iterable[str], expected: bool, when: str) -> None:
    wrong = [fqn for fqn in module_fqns if is_masked(model.get_submodule(fqn), "weight") != expected]
    state = "carry no" if expected else "still carry a"
    assert not wrong, f"{when}: {wrong} {state} mask parametrization on weight"


def parametrized_modules(model: nn.Module) -> list[str]:
    return sorted(fqn for fqn, module in model.named_modules() if is_masked(module, None))


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str, tolerance: float | None = None) -> None:
    """Close within the dtype's rounding of a forward pass (``tolerance`` to choose another)."""
    if tolerance is None:
        tolerance = {torch.float16: 1e-2, torch.bfloat16: 5e-2}.get(expected.dtype, 1e-5)
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    torch.testing.assert_close(actual, expected, atol=tolerance, rtol=tolerance, msg=lambda m: f"{what}: {m}")


@contextmanager
def must_raise(expected: type[BaseException] | tuple[type[BaseException], ...], symptom: str) -> Iterator[None]:
    """Like ``pytest.raises``, but a missing error fails with ``symptom`` rather than "DID NOT RAISE".

    ``expected`` names the error the contract specifies; another error fails the check with ``symptom``
    and the error it was (``Exception`` would let a call that always raises pass).
    """
    if expected is Exception or expected is BaseException:
        raise TypeError("must_raise needs the error the contract specifies, not Exception")
    try:
        yield
    except expected:
        return
    except Exception as other:
        pytest.fail(f"{symptom} (it raised {type(other).__name__}: {other})", pytrace=False)
    pytest.fail(symptom, pytrace=False)
