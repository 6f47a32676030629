"""Capturing a model's dataflow by recording one real forward: the fast path ``capture`` tries first.

``torch.export`` runs every op through proxies and fake tensors, milliseconds an op, which made the
capture most of a zoo model's pruning time. Recording instead runs the real forward once under a
``TorchFunctionMode`` and writes one fx node per call that can carry channels, named and laid out as
the ATen op ``torch.export`` records for it (``ops``), so ``flow`` reads it exactly as it reads an
exported graph. A call is recorded when it is a Linear / Conv2d / Embedding or reads a tensor
descended from one; everything else (causal masks, position ids) runs unrecorded, a constant to the
graph.

The recording is used only where it is unambiguous; ``AmbiguousError`` (and ``capture`` falling back to
export) whenever it is not:

* a call on the model's data (a tensor derived from an input, parameter or buffer) that ``ops`` does
  not know, or that reads values out of it (``item``, ``bool``: control flow export refuses or
  specializes);
* an in-place write into a recorded tensor that shares memory with another (a view, or the base of one:
  export's graph does not show that either);
* an output the recording cannot see into (an object that is no tensor, number or pytree of them).

Module fqns come from forward hooks on the (private) copy being recorded, the innermost module whose
``__call__`` is running, which is what export's ``nn_module_stack`` names.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.fx import Graph, Node
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree
from torch.utils.weak import WeakIdKeyDictionary

from .functions import METADATA, OPS, Call, Op, UnrecordableError, data_dependent_shape

IN_PLACE_OPERATORS = frozenset(
    {
        "__setitem__",
        "__iadd__",
        "__isub__",
        "__imul__",
        "__itruediv__",
        "__ifloordiv__",
        "__ipow__",
        "__iand__",
        "__ior__",
    }
)


class AmbiguousError(Exception):
    """The recording cannot tell what export would record; ``capture`` exports instead."""


def _tensors(args: tuple, kwargs: dict) -> Iterator[torch.Tensor]:
    """The tensors among a call's arguments, looking one level into lists and tuples (``cat``)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, torch.Tensor))


def _on_cuda(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "cuda"


def _tensor_result(value: object) -> bool:
    """A tensor, a tuple or list of tensors, or None (what ``__setitem__`` returns): no value read out."""
    if isinstance(value, (tuple, list)):
        return all(isinstance(v, torch.Tensor) for v in value)
    return value is None or isinstance(value, torch.Tensor)


class RecordedGraph:
    """The recorded nodes, in the order their calls ran: all ``flow`` reads of a graph (``nodes``).

    Nodes are ``torch.fx`` nodes, but not inserted into an fx ``Graph``: its checks and name bookkeeping
    cost more than the recording itself. Each node's ``meta["val"]`` is the shape of its value (a
    ``torch.Size``, a list of them for a split), where export stores a fake tensor.
    """

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._owner = Graph()

    def add(self, op: str, target: Any, args: tuple, shape: object, kwargs: dict | None = None) -> Node:
        name = f"{getattr(target, '__name__', target)}_{len(self.nodes)}"
        node = Node(self._owner, name, op, target, args, kwargs or {})
        node.meta["val"] = shape
        self.nodes.append(node)
        return node

    def __str__(self) -> str:
        return "\n".join(node.format_node() or node.name for node in self.nodes)


class Recorder(TorchFunctionMode):
    """Records one forward of ``model`` into ``graph``; see the module docstring."""

    def __init__(self, model: nn.Module, modules: Modules, ops: Mapping[Any, Op] = OPS) -> None:
        super().__init__()
        self._ops = ops
        self.graph = RecordedGraph()
        self.parameters: dict[str, str] = {}  # placeholder name -> parameter fqn
        self.buffers: dict[str, str] = {}
        self._names: dict[int, tuple[str, dict[str, str], str]] = {}  # id -> fqn, its table, placeholder prefix
        self._stack: list[tuple[str, type]] = [("", type(model))]
        self.traced: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> the node that wrote it
        self._data: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> True: derived from the model's data
        self._operands: dict[int, Node] = {}  # parameter / buffer id -> placeholder
        self._constants: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> its constant node
        self._stale: WeakIdKeyDictionary = WeakIdKeyDictionary()  # recorded tensors written through an alias
        self._parameter_storages: set[int] = set()
        self.cuda_devices: set[int] = set()  # of the parameters and buffers
        for fqn, module in modules:
            prefix = f"{fqn}." if fqn else ""
            for table, kind, tensors in (
                (self.parameters, "p", module._parameters),
                (self.buffers, "b", module._buffers),
            ):
                for name, tensor in tensors.items():
                    if tensor is not None and id(tensor) not in self._names:  # the first name, as export's
                        self._names[id(tensor)] = (prefix + name, table, kind)
                        self._data[tensor] = True
                        if tensor.device.type == "cuda":
                            self.cuda_devices.add(tensor.device.index or 0)
                        if kind == "p":
                            self._parameter_storages.add(tensor.untyped_storage().data_ptr())

    def enter(self, fqn: str, module: nn.Module, args: tuple) -> None:
        """Forward pre-hook: ``module`` (at ``fqn``) starts running."""
        self._stack.append((fqn, type(module)))

    def leave(self, module: nn.Module, args: tuple, output: object) -> None:
        """Forward hook: the innermost running module is done."""
        self._stack.pop()

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in METADATA:
            return func(*args, **kwargs)
        if self._writes_parameters(func, args, kwargs):
            raise AmbiguousError(f"{_name(func)} writes into a parameter in place (the recording runs the real model)")
        tensors = list(_tensors(args, kwargs))
        data = any(t in self._data for t in tensors)
        op = self._ops.get(func)
        if not any(t in self.traced for t in tensors) and (op is None or not op.produces):
            return self._unrecorded(func, args, kwargs, data)
        if op is None:
            raise AmbiguousError(f"{_name(func)} reads channels and is not a call the recording knows")
        try:
            call = op.normalize(*args, **kwargs)
        except (UnrecordableError, TypeError) as error:
            raise AmbiguousError(f"{_name(func)}: {error}") from None
        self._check_fresh(call, func)
        result = func(*args, **kwargs)
        self.mark_data(result)
        self._record(call, result)
        return result

    def _writes_parameters(self, func: Any, args: tuple, kwargs: dict) -> bool:
        name = getattr(func, "__name__", "")
        in_place = (name.endswith("_") and not name.endswith("__")) or name in IN_PLACE_OPERATORS
        targets = [args[0]] if (in_place or kwargs.get("inplace") is True) and args else []
        out = kwargs.get("out")
        targets += list(out) if isinstance(out, (tuple, list)) else [out]
        return any(
            isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() in self._parameter_storages for t in targets
        )

    def _unrecorded(self, func: Any, args: tuple, kwargs: dict, data: bool) -> Any:
        """A call that carries no channels: run as is; on the model's data, it must not read values."""
        if data and data_dependent_shape(func, args, kwargs):
            raise AmbiguousError(f"{_name(func)} on the model's data gives a shape that depends on its values")
        result = func(*args, **kwargs)
        if data:
            if not _tensor_result(result):
                raise AmbiguousError(
                    f"{_name(func)} reads values out of the model's data (control flow export cannot follow)"
                )
            self.mark_data(result)
        return result

    def _check_fresh(self, call: Call, func: Any) -> None:
        """Refuse reading a recorded tensor after an in-place write through another tensor sharing its memory
        (its node no longer says what it holds); an in-place write marks those aliases so."""
        if any(t in self._stale for t in _tensors(call.args, call.kwargs)):
            raise AmbiguousError(f"{_name(func)} reads a tensor that was written in place through another view of it")
        if not call.inplace:
            return
        target = call.args[0]
        if target not in self.traced:
            raise AmbiguousError(f"{_name(func)} writes channels in place into a tensor the recording does not follow")
        storage = target.untyped_storage().data_ptr()
        for tensor in list(self.traced.keys()):
            if tensor is not target and tensor.untyped_storage().data_ptr() == storage:
                self._stale[tensor] = True

    def mark_data(self, result: object) -> None:
        """Remember ``result`` (a tensor, or a tuple of them) as derived from the model's data."""
        if isinstance(result, torch.Tensor):
            self._data[result] = True
        elif isinstance(result, (tuple, list)):
            for value in result:
                if isinstance(value, torch.Tensor):
                    self._data[value] = True

    def _node(self, value: object) -> object:
        """The graph value of a call argument: a node for tensors, lists mapped, anything else as is."""
        if isinstance(value, (list, tuple)):
            if hasattr(value, "_fields") or not any(isinstance(v, (torch.Tensor, list, tuple)) for v in value):
                return value  # sizes, strides, paddings: no tensor inside
            return type(value)(self._node(v) for v in value)
        if not isinstance(value, torch.Tensor):
            return value
        node = self.traced.get(value)
        if node is not None:
            return node
        return self._operand(value)

    def _operand(self, tensor: torch.Tensor) -> Node:
        """A parameter or buffer as its placeholder; any other untraced tensor as a constant."""
        key = id(tensor)
        if key in self._operands:
            return self._operands[key]
        if key in self._names:
            fqn, table, kind = self._names[key]
            node = self.graph.add("placeholder", f"{kind}_{fqn.replace('.', '_')}", (), tensor.shape)
            table[node.name] = fqn
            self._operands[key] = node
            return node
        node = self._constants.get(tensor)
        if node is None:
            node = self.graph.add("get_attr", "constant", (), tensor.shape)
            self._constants[tensor] = node
        return node

    def _new(self, target: Any, args: tuple, value: object, kwargs: dict | None = None) -> Node:
        shape = [v.shape for v in value] if isinstance(value, (tuple, list)) else value.shape
        node = self.graph.add("call_function", target, args, shape, kwargs)
        node.meta["nn_module_stack"] = {"": self._stack[-1]}
        return node

    def _record(self, call: Call, result: object) -> None:
        node = self._node(call.args[0]) if call.steps else None
        for step in call.steps:  # an indexing, recorded as the selects, slices and unsqueezes ATen applies
            node = self._new(step.target, (node, *step.args), step.value)
        if not call.steps:
            kwargs = {name: self._node(value) for name, value in call.kwargs.items()}
            node = self._new(call.target, tuple(self._node(a) for a in call.args), result, kwargs)
        if isinstance(result, torch.Tensor):
            self.traced[result] = node
            return
        if not isinstance(result, (tuple, list)) or not all(isinstance(v, torch.Tensor) for v in result):
            raise AmbiguousError(f"{call.target} returned {type(result).__name__}, which the recording cannot follow")
        for index, value in enumerate(result):  # split / chunk / unbind: one getitem per piece, as export
            self.traced[value] = self._new(_getitem, (node, index), value)

    def finish(self, output: object) -> None:
        """The output node: every recorded tensor the model returns (its shape must not change)."""
        leaves = _pytree.tree_leaves(output)
        opaque = [type(leaf).__name__ for leaf in leaves if not isinstance(leaf, (torch.Tensor, int, float, bool, str))]
        opaque = [name for name in opaque if name != "NoneType"]
        if opaque:
            raise AmbiguousError(f"the model returned {opaque[0]}, which the recording cannot see into")
        returned = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor) and leaf in self.traced]
        if any(leaf in self._stale for leaf in returned):
            raise AmbiguousError("the model returns a tensor that was written in place through another view of it")
        self.graph.add("output", "output", (tuple(self.traced[leaf] for leaf in returned),), None)


def _getitem(sequence: Any, index: int) -> Any:
    """Target of the nodes picking one piece of a split (``op_name`` reads its name as ``getitem``)."""
    return sequence[index]


_getitem.__name__ = "getitem"


def _name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)


Modules = list[tuple[str, nn.Module]]
"""A model's ``named_modules()``, listed once and passed around."""


def not_plain(modules: Modules) -> str | None:
    """Why the model of ``modules`` cannot be recorded as it is (forward hooks, parametrizations), or None."""
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return "global module forward hooks are registered"
    for fqn, module in modules:
        if module._forward_hooks or module._forward_pre_hooks:
            return f"module {fqn or type(module).__name__!r} has forward hooks"
        if parametrize.is_parametrized(module):
            return f"module {fqn!r} is parametrized"
    return None


@contextmanager
def _private_buffers(modules: Modules) -> Iterator[None]:
    """Every buffer replaced by a clone while the forward runs (a BatchNorm in train mode updates its
    statistics in place), the originals put back after."""
    saved: list[tuple[dict, str, torch.Tensor]] = []
    clones: dict[int, torch.Tensor] = {}
    for _, module in modules:
        for name, buffer in module._buffers.items():
            if buffer is not None:
                saved.append((module._buffers, name, buffer))
                module._buffers[name] = clones.setdefault(id(buffer), buffer.clone())
    try:
        yield
    finally:
        for buffers, name, buffer in saved:
            buffers[name] = buffer


@contextmanager
def _module_stack(modules: Modules, recorder: Recorder) -> Iterator[None]:
    """Hooks keeping ``recorder``'s module stack: entered before any other hook of a module, left after all."""
    handles = []
    for fqn, module in modules:
        if fqn:
            enter = functools.partial(recorder.enter, fqn)
            handles.append(module.register_forward_pre_hook(enter, prepend=True))
            handles.append(module.register_forward_hook(recorder.leave, always_call=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def record(
    model: nn.Module, example_inputs: tuple, ops: Mapping[Any, Op] = OPS, modules: Modules | None = None
) -> tuple[RecordedGraph, dict[str, str], dict[str, str]]:
    """Run ``model`` once on ``example_inputs`` and return its recorded graph with each placeholder's parameter
    and buffer fqn; ``AmbiguousError`` when the recording cannot be trusted (see the module docstring).

    ``ops`` is the table of known functions (``functions.OPS``), ``modules`` the model's ``named_modules()``
    if the caller has listed them. The model must be plain (no parametrization, no forward hooks); it is
    left as it was: its buffers are clones while it runs, the random number generators are restored,
    the recording's hooks removed.
    """
    modules = list(model.named_modules()) if modules is None else modules
    reason = not_plain(modules)
    if reason is not None:
        raise AmbiguousError(reason)
    with _private_buffers(modules):
        recorder = Recorder(model, modules, ops)
        for value in example_inputs:
            if isinstance(value, torch.Tensor):
                recorder.mark_data(value)
        devices = sorted(recorder.cuda_devices | {x.device.index or 0 for x in example_inputs if _on_cuda(x)})
        with _module_stack(modules, recorder), torch.no_grad(), torch.random.fork_rng(devices=devices), recorder:
            output = model(*example_inputs)
        recorder.finish(output)
    return recorder.graph, recorder.parameters, recorder.buffers
