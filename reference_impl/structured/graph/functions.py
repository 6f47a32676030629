"""The torch functions the recording knows: for each, the ATen op ``torch.export`` records for it, with its arguments.

``torch.export`` (pre-dispatch) records almost every public function as the ATen op of the same name,
its arguments in the schema's order; the exceptions are written out here: ``F.embedding`` and
``F.batch_norm`` reorder their arguments, ``F.interpolate`` becomes an ``upsample_*`` op, basic
indexing becomes the ``select`` / ``slice`` / ``unsqueeze`` steps ATen applies (``alias`` when it
applies none), ``x.float()`` is ``to``. Ops ``flow`` has no rule for are listed too (``OPAQUE``), under
export's name, so ``flow`` leaves their channels whole exactly as it does in an exported graph.
``tests/test_reference_graph_recording.py`` checks every entry against what ``torch.export`` records.

A normalizer takes the function's own arguments and returns the ``Call`` to record, or raises
``UnrecordableError`` for a use whose meaning export might record differently (a dtype ``view``, ``out=``,
advanced indexing); the recorder then falls back to export when the call touches the model's data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


class UnrecordableError(Exception):
    """This use of a known function is not one the table can state export's op for."""


@dataclass(frozen=True)
class Step:
    """One ATen op of an indexing, applied to the previous step's output: its extra arguments and output."""

    target: Any
    args: tuple
    value: torch.Tensor  # a meta tensor of the step's output shape


@dataclass(frozen=True)
class Call:
    """What to record for one function call: the ATen op and its arguments (tensors still tensors)."""

    target: Any
    args: tuple
    kwargs: dict = field(default_factory=dict)
    inplace: bool = False  # writes into args[0]
    steps: tuple[Step, ...] = ()  # instead of target: a chain of ops on args[0] (indexing)


@dataclass(frozen=True)
class Op:
    """A known function: its normalizer, and whether it opens a channel space (always recorded)."""

    normalize: Callable[..., Call]
    produces: bool = False


def aten(name: str) -> Any:
    """The ATen op packet ``name`` (whose ``__name__`` is what ``flow``'s ``op_name`` reads)."""
    return getattr(torch.ops.aten, name)


def _no_out(kwargs: dict) -> None:
    if kwargs.get("out") is not None:
        raise UnrecordableError("out= writes into a tensor of the caller's")


# layers


def _linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Call:
    return Call(aten("linear"), (input, weight, bias))


def _conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Call:
    return Call(aten("conv2d"), (input, weight, bias, stride, padding, dilation, groups))


def _embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    if max_norm is not None:
        raise UnrecordableError("max_norm renormalizes the embedding weight in place")
    return Call(aten("embedding"), (weight, input, -1 if padding_idx is None else padding_idx))


def _batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return Call(aten("batch_norm"), (input, weight, bias, running_mean, running_var, training, momentum, eps, False))


def _layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> Call:
    return Call(aten("layer_norm"), (input, list(normalized_shape), weight, bias, eps))


def _sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False) -> Call:
    kwargs = {"scale": scale, "enable_gqa": enable_gqa}
    return Call(aten("scaled_dot_product_attention"), (query, key, value, attn_mask, dropout_p, is_causal), kwargs)


# element-wise


def _same_name(name: str) -> Callable[..., Call]:
    """A function recorded as the ATen op of its own name, its arguments as given (``name_`` or ``inplace=True``:
    in place)."""
    target = aten(name)

    def normalize(*args: Any, **kwargs: Any) -> Call:
        _no_out(kwargs)
        inplace = name.endswith("_") or bool(kwargs.pop("inplace", False))
        return Call(target, args, {k: v for k, v in kwargs.items() if k != "out"}, inplace=inplace)

    return normalize


def _hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Call:
    return Call(aten("hardtanh"), (input, min_val, max_val), inplace=inplace)


def _dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Call:
    return Call(aten("dropout_" if inplace else "dropout"), (input, p, training), inplace=inplace)


def _to(input: Tensor, *args: Any, **kwargs: Any) -> Call:
    """``to`` / ``float`` / ``half`` ...: export records ``to`` (the dtype or device does not move channels)."""
    return Call(aten("to"), (input,))


def _softmax(name: str) -> Callable[..., Call]:
    def normalize(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Call:
        if dim is None:
            raise UnrecordableError(f"{name} without dim picks its dim from the tensor's rank")
        return Call(aten(name), (input, dim))

    return normalize


def _softmax_method(name: str) -> Callable[..., Call]:
    def normalize(input: Tensor, dim: int, dtype: Any = None) -> Call:
        return Call(aten(name), (input, dim))

    return normalize


def _reduce(name: str) -> Callable[..., Call]:
    def normalize(input: Tensor, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Call:
        _no_out(kwargs)
        return Call(aten(name), (input,) if dim is None else (input, dim, keepdim))

    return normalize


def _pow(input: Any, exponent: Any) -> Call:
    return Call(aten("pow"), (input, exponent))


def _where(condition: Any, input: Any = None, other: Any = None) -> Call:
    if input is None:
        raise UnrecordableError("where(condition) gives indices, as many as there are true values")
    return Call(aten("where"), (condition, input, other))


def _rpow(input: Tensor, other: Any) -> Call:
    return Call(aten("pow"), (other, input))


def _rsub(input: Tensor, other: Any) -> Call:
    return Call(aten("rsub"), (input, other))


def _rdiv(input: Tensor, other: Any) -> Call:
    """``other / x``: ``reciprocal`` then ``mul``, as export records it."""
    value = torch.empty(input.shape, dtype=input.dtype, device="meta")
    return Call(None, (input,), steps=(Step(aten("reciprocal"), (), value), Step(aten("mul"), (other,), value)))


def _pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Call:
    return Call(aten("pad"), (input, list(pad), mode, value))


def _interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    ops = {"nearest": "upsample_nearest2d", "bilinear": "upsample_bilinear2d"}
    if input.dim() != 4 or mode not in ops or antialias:
        raise UnrecordableError(f"interpolate in mode {mode!r} on {input.dim()} dims")
    return Call(aten(ops[mode]), (input, size, scale_factor))


def _max_pool2d(input: Tensor, *args: Any, **kwargs: Any) -> Call:
    if kwargs.get("return_indices") or (len(args) > 5 and args[5]):
        raise UnrecordableError("max_pool2d with return_indices returns a tuple")
    return Call(aten("max_pool2d"), (input, *args))


# shapes


def _sizes(args: tuple) -> list:
    """``view(2, 3)`` or ``view((2, 3))``: the sizes as one list."""
    return list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple, torch.Size)) else list(args)


def _view(input: Tensor, *shape: Any, **kwargs: Any) -> Call:
    if "dtype" in kwargs or any(isinstance(s, torch.dtype) for s in shape):
        raise UnrecordableError("a view as another dtype reinterprets the bytes")
    return Call(aten("view"), (input, _sizes(shape or (kwargs.get("size"),))))


def _reshape(input: Tensor, *shape: Any, **kwargs: Any) -> Call:
    return Call(aten("reshape"), (input, _sizes(shape or (kwargs.get("shape"),))))


def _flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Call:
    return Call(aten("flatten"), (input, start_dim, end_dim))


def _squeeze(input: Tensor, dim: Any = None) -> Call:
    return Call(aten("squeeze"), (input,) if dim is None else (input, dim))


def _unsqueeze(input: Tensor, dim: int) -> Call:
    return Call(aten("unsqueeze"), (input, dim))


def _transpose(input: Tensor, dim0: int, dim1: int) -> Call:
    return Call(aten("transpose"), (input, dim0, dim1))


def _permute(input: Tensor, *dims: Any, **kwargs: Any) -> Call:
    return Call(aten("permute"), (input, _sizes(dims or (kwargs.get("dims"),))))


def _expand(input: Tensor, *sizes: Any, **kwargs: Any) -> Call:
    return Call(aten("expand"), (input, _sizes(sizes or (kwargs.get("size"),))))


def _select(input: Tensor, dim: int, index: int) -> Call:
    return Call(aten("select"), (input, dim, index))


def _cat(tensors: Any, dim: int = 0, **kwargs: Any) -> Call:
    _no_out(kwargs)
    return Call(aten("cat"), (list(tensors), dim))


def _split(input: Tensor, split_size_or_sections: Any, dim: int = 0) -> Call:
    name = "split" if isinstance(split_size_or_sections, int) else "split_with_sizes"
    return Call(aten(name), (input, split_size_or_sections, dim))


def _chunk(input: Tensor, chunks: int, dim: int = 0) -> Call:
    return Call(aten("chunk"), (input, chunks, dim))


def _unbind(input: Tensor, dim: int = 0) -> Call:
    return Call(aten("unbind"), (input, dim))


def _meta(shape: list[int], like: Tensor) -> Tensor:
    return torch.empty(shape, dtype=like.dtype, device="meta")


def _index_step(shape: list[int], dim: int, key: Any, like: Tensor) -> tuple[Step | None, int]:
    """The ATen op of one basic index at ``dim`` (None for a full slice), and the next dim."""
    if key is None:
        shape.insert(dim, 1)
        return Step(aten("unsqueeze"), (dim,), _meta(shape, like)), dim + 1
    if isinstance(key, int):
        if not -shape[dim] <= key < shape[dim]:
            raise UnrecordableError(f"index {key} out of range for a dim of size {shape[dim]}")
        shape.pop(dim)
        return Step(aten("select"), (dim, key), _meta(shape, like)), dim
    bounds = (key.start, key.stop, key.step)
    if any(b is not None and (isinstance(b, bool) or not isinstance(b, int)) for b in bounds) or (key.step or 1) < 1:
        raise UnrecordableError(f"slice {key} is not a slice of ints with a positive step")
    size = len(range(*key.indices(shape[dim])))
    if size == shape[dim] and (key.step or 1) == 1:
        return None, dim + 1
    shape[dim] = size
    return Step(aten("slice"), (dim, key.start, key.stop, key.step or 1), _meta(shape, like)), dim + 1


def _getitem(input: Tensor, key: Any) -> Call:
    """Basic indexing as the steps ATen applies, left to right (``alias`` when every index is a full slice)."""
    keys = key if isinstance(key, tuple) else (key,)
    basic = all(k is None or k is Ellipsis or isinstance(k, slice) or type(k) is int for k in keys)
    if not basic or keys.count(Ellipsis) > 1:
        raise UnrecordableError("advanced indexing (tensors, lists or bools) gathers by value")
    specified = sum(1 for k in keys if k is not None and k is not Ellipsis)
    if specified > input.dim():
        raise UnrecordableError(f"{specified} indices for a tensor of {input.dim()} dims")
    shape, dim, steps = list(input.shape), 0, []
    for k in keys:
        if k is Ellipsis:
            dim += input.dim() - specified
            continue
        step, dim = _index_step(shape, dim, k, input)
        if step is not None:
            steps.append(step)
    return Call(None, (input,), steps=tuple(steps) or (Step(aten("alias"), (), _meta(shape, input)),))


def _t(input: Tensor) -> Call:
    return Call(aten("t"), (input,))


def _property(name: str) -> Callable[..., Call]:
    return lambda input: Call(aten(name), (input,))


UNARY = (
    "relu", "relu_", "gelu", "silu", "tanh", "neg", "abs", "sin", "cos", "sigmoid", "exp", "rsqrt", "sqrt",
    "reciprocal", "log", "erf", "sign", "square", "contiguous", "clone", "detach", "type_as", "hardswish",
    "hardsigmoid", "mish", "softplus", "sigmoid_", "tanh_", "exp_", "neg_", "relu6", "elu", "leaky_relu",
)  # fmt: skip
"""Element-wise functions recorded under their own name with their arguments as given."""

BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "add_", "sub_", "mul_", "div_")

OPAQUE = (
    "narrow", "expand_as", "view_as", "reshape_as", "unflatten", "swapaxes", "concat", "true_divide",
    "floor_divide", "stack", "einsum", "roll", "repeat", "repeat_interleave", "flip", "clamp", "clamp_min",
    "masked_fill", "group_norm", "gt", "lt", "ge", "le", "eq", "ne", "zeros_like", "ones_like", "empty_like",
    "full_like", "new_zeros", "new_ones", "new_empty", "new_full",
)  # fmt: skip
"""Functions export records as one op of their own name that ``flow`` has no rule for: channels reaching
them stay whole, and the recording says so in the same words."""


def _owners(name: str) -> Iterable[Any]:
    """Every public object called ``name``: ``torch.<name>``, ``Tensor.<name>``, ``F.<name>``."""
    for owner in (torch, Tensor, F):
        function = getattr(owner, name, None)
        if function is not None and not isinstance(function, type):
            yield function


def _build() -> dict[Any, Op]:
    table: dict[Any, Op] = {}

    def add(functions: Iterable[Any], normalize: Callable[..., Call], produces: bool = False) -> None:
        for function in functions:
            table[function] = Op(normalize, produces)

    add([F.linear], _linear, produces=True)
    add([F.conv2d], _conv2d, produces=True)
    add([F.embedding], _embedding, produces=True)
    add([F.batch_norm], _batch_norm)
    add([F.layer_norm], _layer_norm)
    add([F.scaled_dot_product_attention], _sdpa)
    add([torch.matmul, Tensor.matmul], _same_name("matmul"))
    add([torch.bmm, Tensor.bmm], _same_name("bmm"))
    for name in (*UNARY, *BINARY, *OPAQUE):
        add(_owners(name), _same_name(name))
    add([F.hardtanh], _hardtanh)
    add([F.dropout], _dropout)
    add([Tensor.to, Tensor.float, Tensor.half, Tensor.bfloat16, Tensor.double], _to)
    add([F.softmax], _softmax("softmax"))
    add([F.log_softmax], _softmax("log_softmax"))
    add([torch.softmax, Tensor.softmax], _softmax_method("softmax"))
    add([torch.log_softmax, Tensor.log_softmax], _softmax_method("log_softmax"))
    for name in ("mean", "sum", "amax"):
        add(_owners(name), _reduce(name))
    add([torch.pow, Tensor.pow, Tensor.__pow__], _pow)
    add(_owners("where"), _where)
    add([Tensor.__rpow__], _rpow)
    add([Tensor.__rsub__], _rsub)
    add([Tensor.__floordiv__], _same_name("floor_divide"))
    add([Tensor.__eq__], _same_name("eq"))
    add([Tensor.__ne__], _same_name("ne"))
    add([Tensor.__rdiv__, Tensor.__rtruediv__], _rdiv)
    add([F.pad], _pad)
    add([F.interpolate], _interpolate)
    add([F.max_pool2d], _max_pool2d)
    for name in ("avg_pool2d", "adaptive_avg_pool2d"):
        add([getattr(F, name)], _same_name(name))
    add([Tensor.view], _view)
    add([torch.reshape, Tensor.reshape], _reshape)
    add([torch.flatten, Tensor.flatten], _flatten)
    add([torch.squeeze, Tensor.squeeze], _squeeze)
    add([torch.unsqueeze, Tensor.unsqueeze], _unsqueeze)
    add([torch.transpose, Tensor.transpose], _transpose)
    add([torch.permute, Tensor.permute], _permute)
    add([Tensor.expand], _expand)
    add([torch.select, Tensor.select], _select)
    add([torch.cat], _cat)
    add([torch.split, Tensor.split], _split)
    add([torch.chunk, Tensor.chunk], _chunk)
    add([torch.unbind, Tensor.unbind], _unbind)
    add([Tensor.__getitem__], _getitem)
    add([torch.t, Tensor.t], _t)
    add([Tensor.T.__get__], _property("numpy_T"))
    add([Tensor.mT.__get__], _property("mT"))
    return table


OPS: dict[Any, Op] = _build()
"""Every function the recording knows, by the object ``__torch_function__`` receives."""

METADATA = frozenset(
    {
        Tensor.shape.__get__, Tensor.dtype.__get__, Tensor.device.__get__, Tensor.ndim.__get__,
        Tensor.is_cuda.__get__, Tensor.requires_grad.__get__, Tensor.layout.__get__, Tensor.size, Tensor.dim,
        Tensor.numel, Tensor.nelement, Tensor.is_floating_point, Tensor.is_complex, Tensor.is_contiguous,
        Tensor.stride, Tensor.element_size, Tensor.__len__, Tensor.get_device, Tensor.ndimension, Tensor.__hash__,
    }
)  # fmt: skip
"""Functions that read a tensor's metadata only (export specializes on them too): never recorded, never ambiguous."""

DATA_DEPENDENT_SHAPES = frozenset(
    f
    for name in ("nonzero", "argwhere", "masked_select", "unique", "unique_consecutive", "bincount", "histc")
    for f in _owners(name)
)
"""Functions whose output shape depends on their input's values: export cannot follow them either."""


def data_dependent_shape(func: Any, args: tuple, kwargs: dict) -> bool:
    """Whether this call's output shape depends on values (``nonzero``, a boolean mask index, ``where(cond)``)."""
    if func in DATA_DEPENDENT_SHAPES:
        return True
    if func is Tensor.__getitem__ and len(args) > 1:
        keys = args[1] if isinstance(args[1], tuple) else (args[1],)
        return any(isinstance(k, Tensor) and k.dtype in (torch.bool, torch.uint8) for k in keys)
    if func in (torch.where, Tensor.where) and len(args) + len(kwargs) == 1:
        return True
    repeats = args[1] if len(args) > 1 else kwargs.get("repeats")
    return func in (torch.repeat_interleave, Tensor.repeat_interleave) and isinstance(repeats, Tensor)
