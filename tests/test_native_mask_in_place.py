"""The compiled in-place mask (``reference_impl/native/mask_in_place``) against its oracle, ``_apply_mask``.

Bit for bit on every floating dtype it takes, with the values that tell a ``where`` from a multiply (NaN and
inf weights under a zero mask), signed zeros in the mask and the weight, NaN and subnormal mask values, many
chunk sizes and thread counts; broken twins show the comparison catches a kernel that gets any of it wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from prunebench.reference_impl import fake_sparsity
from prunebench.reference_impl.native import build
from prunebench.reference_impl.native import mask_in_place as native
from torch import nn

from prunebench import reference_impl as ref

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
SHAPES = ((1,), (7,), (33, 5), (64, 48), (8, 3, 3, 3), (257, 129))
SPECIAL_WEIGHTS = (float("nan"), float("inf"), -float("inf"), -0.0, 0.0)
SPECIAL_MASKS = (-0.0, float("nan"), 1e-40, 2.0, -1.0)
_BITS = {2: torch.int16, 4: torch.int32, 8: torch.int64}


@pytest.fixture(scope="module")
def kernel() -> object:
    """The built kernel; a machine that cannot build it reports these tests unsupported, saying why."""
    if not build.enabled():
        pytest.skip(f"unsupported: compiled kernels are off ({build.ENABLED_ENV}=0)")
    try:
        return build.load(native.KERNEL, build.cache_directory(), build.compiler())
    except build.BuildError as error:
        pytest.skip(f"unsupported: the kernel cannot be built here: {error}")


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight and a 0/1 mask of ``dtype``, each with special values at random places."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)
    mask = (torch.rand(shape, generator=generator) < 0.5).to(dtype)
    flat_weight, flat_mask = weight.view(-1), mask.view(-1)
    count = flat_weight.numel()
    for value in SPECIAL_WEIGHTS:
        flat_weight[torch.randint(count, (1 + count // 16,), generator=generator)] = value
    for value in SPECIAL_MASKS:
        flat_mask[torch.randint(count, (1 + count // 32,), generator=generator)] = value
    return weight, mask


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.view(_BITS[tensor.element_size()])


def _native(mask: torch.Tensor, weight: torch.Tensor, threads: int) -> bool:
    return native.native_mask_in_place(mask, weight, threads=threads)


def _assert_kernel_matches_oracle(
    shape: tuple[int, ...],
    dtype: torch.dtype,
    seed: int,
    threads: int,
    apply: Callable[[torch.Tensor, torch.Tensor, int], bool] = _native,
) -> None:
    weight, mask = _inputs(shape, dtype, seed)
    expected = fake_sparsity._apply_mask(mask, weight.clone())
    actual = weight.clone()
    assert apply(mask, actual, threads), f"the kernel declined {shape} {dtype}"
    differ = (_bits(actual) != _bits(expected)).nonzero()
    assert differ.numel() == 0, (
        f"kernel and oracle differ at {differ.shape[0]} of {expected.numel()} entries (first {differ[:3].tolist()}, "
        f"weight {weight[tuple(differ[0])].item() if differ.numel() else None}); {shape} {dtype} threads={threads}"
    )


@pytest.mark.parametrize("chunk_elements", [1, 7, native.CHUNK_ELEMENTS])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("weight_dtype", DTYPES, ids=str)
def test_kernel_equals_the_oracle_bit_for_bit(weight_dtype, shape, threads, chunk_elements, kernel, monkeypatch):
    monkeypatch.setattr(native, "CHUNK_ELEMENTS", chunk_elements)
    _assert_kernel_matches_oracle(shape, weight_dtype, seed=len(shape) * 31 + threads, threads=threads)


def _multiplies(mask: torch.Tensor, weight: torch.Tensor, threads: int) -> bool:
    """A wrong kernel: torch's multiply, under which a masked NaN or inf stays NaN."""
    weight.mul_(mask.ne(0).to(weight.dtype))
    return True


def _keeps_negative_zero(mask: torch.Tensor, weight: torch.Tensor, threads: int) -> bool:
    """A wrong kernel: tests the mask's bits sign included, so a -0.0 mask value keeps its weight."""
    keep = _bits(mask) != 0
    weight.copy_(torch.where(keep, weight, torch.zeros((), dtype=weight.dtype)))
    return True


def _skips_the_last_chunk(mask: torch.Tensor, weight: torch.Tensor, threads: int) -> bool:
    """A wrong kernel: the real one run on all but the last element."""
    return native.native_mask_in_place(mask.view(-1)[:-1], weight.view(-1)[:-1], threads=threads)


@pytest.mark.parametrize("broken", [_multiplies, _keeps_negative_zero, _skips_the_last_chunk], ids=lambda f: f.__name__)
def test_the_comparison_catches_a_wrong_kernel(broken, kernel):
    with pytest.raises(AssertionError, match="kernel and oracle differ"):
        _assert_kernel_matches_oracle((64, 48), torch.float32, seed=3, threads=2, apply=broken)


def test_the_kernel_applies_only_where_it_computes_the_same_rule():
    weight = torch.randn(8, 12)
    assert native.applies(torch.ones_like(weight), weight)
    assert native.applies(torch.ones(8, 12, dtype=torch.float16), weight.half())
    assert not native.applies(torch.ones(8, 12, dtype=torch.bool), weight), "a bool mask"
    assert not native.applies(torch.ones(8, 12, dtype=torch.float16), weight), "a mask of another dtype"
    assert not native.applies(torch.ones(12, 8).t(), weight), "a non-contiguous mask"
    assert not native.applies(torch.ones(8, 12), torch.randn(12, 8).t()), "a non-contiguous weight"
    assert not native.applies(torch.ones(8, 12, dtype=torch.int32), weight.int()), "an integer tensor"
    assert not native.applies(torch.ones(96), weight), "another shape"
    assert not native.applies(weight, weight), "the mask is the weight: read while written"
    shared = torch.ones(200)
    assert not native.applies(shared[:100], shared[50:150]), "overlapping memory"
    assert native.applies(shared[:100], shared[100:]), "adjacent, not overlapping"
    assert not native.applies(torch.ones(0, 4), torch.ones(0, 4)), "nothing to mask"


def test_a_declined_input_leaves_the_weight_untouched(kernel):
    weight = torch.randn(8, 12)
    before = weight.clone()
    assert not native.native_mask_in_place(torch.zeros(8, 12, dtype=torch.bool), weight)
    assert torch.equal(weight, before)


def test_the_kernel_declines_while_torch_flushes_denormals(kernel):
    """torch may then read a subnormal mask value as 0; the readable version keeps torch's answer."""
    weight = torch.ones(8, 8)
    mask = torch.full((8, 8), 1e-40)
    if not torch.set_flush_denormal(True):
        pytest.skip("unsupported: this CPU cannot flush denormals")
    try:
        applied = native.native_mask_in_place(mask, weight)
    finally:
        torch.set_flush_denormal(False)
    assert not applied and torch.equal(weight, torch.ones(8, 8))


def _squashed(model: nn.Module) -> list[torch.Tensor]:
    """Prepare, step and squash the model's conv and linear; returns what ``forward`` masked them to before."""
    sparsifier = ref.WeightNormSparsifier(sparsity_level=0.5, sparse_block_shape=(1, 4), zeros_per_block=4)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}, {"tensor_fqn": "3.weight"}])  # the conv too
    sparsifier.step()
    parametrized = [model[0].weight.detach().clone(), model[3].weight.detach().clone()]
    sparsifier.squash_mask()
    return parametrized


@pytest.mark.parametrize("weight_dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("path", ["kernel", "readable"])
def test_squash_mask_leaves_exactly_the_parametrized_weights(weight_dtype, path, kernel, monkeypatch):
    """A CNN's conv and linear squashed: the weights ``forward`` computed, bit for bit (a masked negative weight is
    +0 as ``forward`` has it, not the -0 of a multiply; a masked NaN is 0), in the same Parameter objects, with the
    kernel and with the readable version."""
    calls: list[bool] = []
    real = fake_sparsity.native_mask_in_place

    def spy(mask: torch.Tensor, weight: torch.Tensor) -> bool:
        calls.append(real(mask, weight))
        return calls[-1]

    monkeypatch.setattr(fake_sparsity, "native_mask_in_place", spy)
    monkeypatch.setenv(build.ENABLED_ENV, "1" if path == "kernel" else "0")
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, dtype=weight_dtype), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 6 * 6, 24, dtype=weight_dtype)
    )
    parameters = [model[0].weight, model[3].weight]
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] = float("nan")  # the readable version's where, not a multiply, must handle it
    parametrized = _squashed(model)
    assert model[0].weight is parameters[0] and model[3].weight is parameters[1], "the same Parameter objects"
    assert calls == [path == "kernel"] * 2, f"kernel taken {calls} with the {path} path"
    for layer, expected in zip((model[0], model[3]), parametrized, strict=True):
        where = f"{type(layer).__name__} {weight_dtype} {path}"
        assert torch.equal(_bits(layer.weight.detach()), _bits(expected)), where
