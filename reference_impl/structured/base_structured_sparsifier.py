"""``BaseStructuredSparsifier``: row masks on Linear/Conv2d/LSTM weights, and ``prune()`` removing them.

The lifecycle is ``BaseSparsifier``'s (prepare, step, state_dict, squash_mask); what differs is the
mask (one bool per row, a ``FakeStructuredSparsity`` parametrization on the module's device), the
bias handling that makes the masked model compute what the pruned one will (``bias``), and
``prune()``, which traces the model with torch.fx and physically removes the masked rows together
with the matching inputs of the layers they feed.

What ``prune()`` guarantees: the returned model's output equals the masked model's (after
``step()``, before ``prune()``), with these documented exceptions and choices:

* A masked channel that still carries a constant (``prune_bias=False``, or a BatchNorm/activation
  that maps 0 elsewhere) is folded into the next layer's bias when that is exact, merged into one
  kept "carrier" channel when the next convolution zero-pads (border effects) or an average pool
  zero-pads, and otherwise kept with a warning (see ``planning``).
* LSTM units are removed only when their output is exactly zero; with ``prune_bias=False`` the
  biases keep masked units alive, so they are kept with a warning (see ``lstm``).
* A LayerNorm after a pruned layer normalizes over the kept channels only; the masked model's
  statistics also count the zeroed ones, so no standard LayerNorm can match it. The pruned model
  equals the masked model with that LayerNorm restricted to the kept channels (torch does the same).
* Dropout is treated as the identity (exact in eval mode); BatchNorm uses the statistics its mode
  selects at ``prune()`` time.

A model ``torch.fx`` cannot trace (most real architectures) is handled by ``graph`` instead, given
``example_inputs``: it is captured with ``torch.export``, its layers are planned in groups that must
lose the same channels (residual adds, concatenations, depthwise / grouped convolutions, attention
heads and key/value groups), ``step()`` masks each group as one, and ``prune()`` shrinks the model
in place and returns it. There a BatchNorm over masked channels outputs zeros for them (a hook added
at ``prepare``), so the masked model is the model without those channels, and a layer that cannot be
pruned exactly is left whole and named in ``unpruned_layers`` with the reason.
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.fx import GraphModule
from torch.nn.utils import parametrize

from ..base_sparsifier import BaseSparsifier, _on_meta
from ..config import build_groups, drop_repeated_tensors
from ..fake_sparsity import FakeStructuredSparsity
from ..validation import meta_tensor_names
from .bias import attach_bias_handling, restore_bias
from .graph import GraphPruning, check_example_inputs, release_channel_hooks, summary
from .masks import (
    STRUCTURED_MODULES,
    check_structured_tensor,
    default_structured_config,
    masked_tensor_names,
    overridden_layer,
    overriding_reason,
    row_mask_parametrization,
)
from .pruning import prune_traced
from .tracing import trace


class BaseStructuredSparsifier(BaseSparsifier):
    """Base of structured pruners: subclasses implement ``update_mask`` to clear rows of the row mask.

    ``defaults`` are per-tensor settings every config entry may override; ``prune_bias`` (default
    True) decides whether a masked row's bias is zeroed (True) or kept and folded into the next
    layer at ``prune()`` (False).
    """

    supported_modules: frozenset[type[nn.Module]] = STRUCTURED_MODULES

    def __init__(self, defaults: Mapping[str, Any] | None = None, patterns: object = None) -> None:
        if patterns is not None:
            raise NotImplementedError(
                f"patterns={patterns!r}: custom fusion patterns are not supported; prune() follows each "
                "pruned layer's users through the graph instead of matching patterns"
            )
        super().__init__(defaults)
        self.traced: GraphModule | None = None
        self.graph: GraphPruning | None = None
        self.whole_layers: dict[str, str] = {}  # configured layers prepare leaves whole (no mask), and why
        self.unpruned_layers: dict[str, str] = {}

    def prepare(
        self, model: nn.Module, config: Sequence[Mapping[str, Any]] | None, *, example_inputs: Any = None
    ) -> None:
        """Attach row masks (all rows kept) to the configured tensors of ``model``, in place.

        ``config=None`` masks every Linear and Conv2d weight and every LSTM's ``weight_ih_l<k>`` and
        ``weight_hh_l<k>``, at any depth.

        ``example_inputs`` (a tuple of positional inputs) matters only for a model ``torch.fx`` cannot
        trace: the model is then captured (one recorded forward, or ``torch.export`` where a recording
        would be ambiguous) before its masks are attached, and its layers planned in groups that must
        lose the same channels (``graph``); ``step()`` masks each group as one and ``unpruned_layers``
        names every configured layer that must stay whole, and why.
        """
        if config is None and isinstance(model, nn.Module):
            config = drop_repeated_tensors(model, default_structured_config(model))
        inputs = None if example_inputs is None else check_example_inputs(example_inputs)
        config, whole = self._without_overriding_layers(model, config)
        graphed = inputs is not None and isinstance(model, nn.Module) and not _fx_traceable(model)
        captured = GraphPruning.capture(model, inputs) if graphed else None  # the model as given, before masks
        super().prepare(model, config)
        self.graph, self.whole_layers, self.unpruned_layers = None, whole, dict(whole)
        if captured is not None:
            self.graph = GraphPruning.plan(captured, model, inputs, self._prune_bias_of(), channel_hooks=True)
            self.unpruned_layers.update(self.graph.plan.unpruned)

    def _without_overriding_layers(self, model: nn.Module, config: Any) -> tuple[Any, dict[str, str]]:
        """``config`` without its entries for subclasses of a prunable layer that compute otherwise (their own
        forward): those layers get no mask and are left whole, fqn -> why (``masks.overridden_layer``).
        A config that does not resolve is returned as it is, for ``prepare`` to reject."""
        try:
            groups = build_groups(model, self.defaults, config)
        except Exception:  # the base prepare raises the error that names what is wrong
            return config, {}
        overriding = [overridden_layer(group["module"]) is not None for group in groups]
        if not any(overriding):
            return config, {}
        whole = {g["module_fqn"]: overriding_reason(g["module"]) for g, o in zip(groups, overriding, strict=True) if o}
        return [entry for entry, o in zip(config, overriding, strict=True) if not o], whole

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("graph", None)
        self.__dict__.setdefault("whole_layers", {})
        self.__dict__.setdefault("unpruned_layers", {})

    def _prune_bias_of(self) -> dict[str, bool]:
        """Module fqn -> ``prune_bias`` of every configured Linear / Conv2d."""
        return {g["module_fqn"]: bool(g.get("prune_bias", True)) for g in self.groups}

    def row_scores(self, module: nn.Module, tensor_name: str, settings: Mapping[str, Any]) -> torch.Tensor | None:
        """Per-row importance (higher is kept) that graph-planned groups sum per unit; None: use votes.

        A subclass whose rule is a per-row score returns it; without one, a group's units are ranked
        by how many of their rows the subclass's own ``update_mask`` keeps.
        """
        return None

    def step(self, use_path: bool = True) -> None:
        """Recompute masks; for a graph-planned model, one decision per group of coupled layers."""
        if self.graph is None or not self.enable_mask_update:
            return super().step(use_path)
        on_meta = [g["tensor_fqn"] for g in self.groups if _on_meta(g["module"], g["tensor_name"])]
        if on_meta:
            return super().step(use_path)  # raises the base class's error naming them
        settings_of = {g["module_fqn"]: g for g in self.groups}
        with torch.no_grad():
            self.graph.step(settings_of, self.row_scores, self.update_mask)
        return None

    def validate_group(self, group: Mapping[str, Any]) -> None:
        check_structured_tensor(group["module"], group["tensor_name"], group["tensor_fqn"])
        prune_bias = group.get("prune_bias", True)
        if not isinstance(prune_bias, bool):
            raise TypeError(f"prune_bias for {group['tensor_fqn']!r} must be a bool, got {prune_bias!r}")

    def mask_shape(self, tensor: torch.Tensor) -> tuple[int, ...]:
        """A row mask: one entry per row of ``tensor``."""
        return (tensor.shape[0],)

    def _snapshot(self, module: nn.Module) -> dict[str, Any]:
        """The base snapshot plus the bias handling state (forward hooks, a moved-aside ``_bias``)."""
        return {
            "parametrizations": super()._snapshot(module),
            "hooks": set(module._forward_hooks),
            "moved_bias": "_bias" in module._parameters,
        }

    def _roll_back(self, module: nn.Module, snapshot: dict[str, Any]) -> None:
        """Undo a failed ``prepare``: new bias hooks go, a bias moved aside comes back unmodified."""
        for key in set(module._forward_hooks) - snapshot["hooks"]:
            for hooks in (
                module._forward_hooks,
                module._forward_hooks_with_kwargs,
                module._forward_hooks_always_called,
            ):
                hooks.pop(key, None)
        if "_bias" in module._parameters and not snapshot["moved_bias"]:
            module.bias = module._parameters.pop("_bias")
        super()._roll_back(module, snapshot["parametrizations"])

    def _prepare(self) -> None:
        """Register each group's row mask, then the bias handling of its module."""
        for group in self.groups:
            module, tensor_name = group["module"], group["tensor_name"]
            tensor = getattr(module, tensor_name)
            mask = group.get("mask")
            if mask is None:
                mask = torch.ones(tensor.shape[0], dtype=torch.bool, device=tensor.device)
            else:
                mask = (mask != 0).to(tensor.device)
            parametrization = group.get("parametrization", FakeStructuredSparsity)
            parametrize.register_parametrization(module, tensor_name, parametrization(mask))
            self.state[group["tensor_fqn"]]["mask"] = row_mask_parametrization(module, tensor_name).mask
            attach_bias_handling(module, tensor_name, group.get("prune_bias", True))

    def _restore_mask(self, group: Mapping[str, Any], saved_mask: torch.Tensor | None) -> torch.Tensor:
        """Like the base, but a missing mask is a row mask with its bias handling."""
        module, tensor_name = group["module"], group["tensor_name"]
        if row_mask_parametrization(module, tensor_name) is None:
            tensor = getattr(module, tensor_name)
            ones = torch.ones(tensor.shape[0], dtype=torch.bool, device=tensor.device)
            parametrize.register_parametrization(module, tensor_name, FakeStructuredSparsity(ones))
            attach_bias_handling(module, tensor_name, group.get("prune_bias", True))
        return super()._restore_mask(group, saved_mask)

    @abc.abstractmethod
    def update_mask(self, module: nn.Module, tensor_name: str, **kwargs: Any) -> None:
        """Clear (set False) the rows of ``module.parametrizations[tensor_name][0].mask`` to prune."""

    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        """Bake masks into the weights and masked biases back into ``bias``; no hooks remain."""
        if self.model is not None:
            release_channel_hooks(self.model)
        for module in {id(group["module"]): group["module"] for group in self.groups}.values():
            restore_bias(module)
        super().squash_mask(*args, **kwargs)

    def prune(self, example_inputs: Any = None) -> GraphModule | nn.Module:
        """Trace the model and physically remove every masked row and the inputs that consumed it.

        Returns the pruned ``GraphModule``; its submodules are the prepared model's own, shrunk in
        place, with no parametrizations or bias hooks left, and every module keeps its train/eval mode
        (``tracing``). Unsupported chains raise ``UnsupportedChainError`` (a ``ValueError`` and
        ``NotImplementedError``) naming the fx node, before anything is modified. After
        ``prepare(model, [])`` it returns the traced model unchanged; a model on the meta device is a
        ``ValueError`` (no mask values to read).

        A model ``torch.fx`` cannot trace is pruned through its ``torch.export`` graph instead
        (``example_inputs`` here or at ``prepare``) and returned itself, shrunk in place: every group
        whose masks remove whole units loses them; every other configured layer keeps its shape (its
        masks baked in) and is listed in ``unpruned_layers`` with the reason, and warned about.
        """
        if self.model is None:
            raise RuntimeError("prune() needs a prepared model: call prepare(model, config) first")
        on_meta = [g["tensor_fqn"] for g in self.groups if _on_meta(g["module"], g["tensor_name"])]
        on_meta = on_meta or meta_tensor_names(self.model)
        if on_meta:
            raise ValueError(
                f"prune() reads mask values to decide which rows go, but {on_meta} are on the meta "
                "device, which holds no values; materialize the model first (model.to_empty(device=...) and "
                "load its weights), then prepare, step and prune it"
            )
        masked = self._masked_modules()
        if not masked and self.groups:
            raise RuntimeError(
                "prune() found no row masks on the prepared model: it was already pruned or squashed; "
                "call prepare(model, config) again to prune it further"
            )
        inputs = None if example_inputs is None else check_example_inputs(example_inputs)
        if self.graph is None:
            try:
                traced = trace(self.model)
            except Exception as error:  # whatever symbolic tracing trips on, export may still capture
                self.graph = self._late_graph(inputs, error)
            else:
                self.unpruned_layers = {**self.whole_layers, **prune_traced(traced, masked)}
                _warn_left_whole(self.unpruned_layers, len(self.groups) + len(self.whole_layers))
                self.traced = traced
                return traced
        elif inputs is not None:
            self.graph.inputs = inputs  # the check of the cut runs on the inputs given last
        return self._prune_graph(list(masked))

    def _late_graph(self, inputs: tuple | None, fx_error: Exception) -> GraphPruning:
        """A graph plan made at ``prune()``: BatchNorm outputs were not zeroed, so fewer groups are exact."""
        if inputs is None:
            raise ValueError(
                f"prune(): torch.fx cannot trace {type(self.model).__name__} ({type(fx_error).__name__}: "
                f"{str(fx_error).splitlines()[0] if str(fx_error) else ''}); pass example_inputs=(...) to "
                "prepare() (best: step() then keeps coupled layers consistent) or to prune()"
            ) from fx_error
        return GraphPruning.plan_for(self.model, inputs, self._prune_bias_of(), channel_hooks=False)

    def _prune_graph(self, masked: list[str]) -> nn.Module:
        graph, self.graph = self.graph, None
        self.unpruned_layers = {**self.whole_layers, **graph.prune(self.model, masked)}
        _warn_left_whole(self.unpruned_layers, len(masked) + len(self.whole_layers))
        return self.model

    def _masked_modules(self) -> dict[str, nn.Module]:
        """fqn -> module for every group module that still carries a row mask."""
        masked: dict[str, nn.Module] = {}
        for group in self.groups:
            module = group["module"]
            if masked_tensor_names(module):
                masked.setdefault(group["module_fqn"], module)
        return masked


def _warn_left_whole(unpruned: Mapping[str, str], configured: int) -> None:
    """One warning naming the configured layers ``prune()`` left whole, with the first reason of each."""
    if unpruned:
        warnings.warn(
            f"prune(): {len(unpruned)} of {configured} configured layer(s) left whole, as pruning them "
            f"would change what the model computes: {summary(unpruned)}; the sparsifier's unpruned_layers "
            "gives every reason",
            stacklevel=3,
        )


def _fx_traceable(model: nn.Module) -> bool:
    """Whether ``torch.fx`` symbolic tracing, which ``prune()`` prefers, works on ``model``."""
    try:
        trace(model)
    except Exception:  # any tracing failure: data-dependent control flow, int(Proxy), ...
        return False
    return True
