"""The ``torch-pruning`` backend: Torch-Pruning's ``DependencyGraph`` removing the rows the structured contract masks.

Torch-Pruning (https://github.com/VainF/Torch-Pruning) has no masking phase of its own: it scores and
removes channels in one go. This adapter keeps the contract's two phases and gives each to the part
that can do it:

* **Masks** (``prepare`` / ``step``) follow ``torch.ao.pruning._experimental.pruner``: a bool row
  mask in a ``FakeStructuredSparsity`` parametrization (torch's own class) per configured tensor;
  ``config=None`` finds every Linear, Conv2d and LSTM gate weight. ``prune_bias=True`` (the
  default) zeroes a masked row's bias too, with a second parametrization on the bias that reads the
  weight's mask (no forward hook, no ``_bias``); ``prune_bias=False`` leaves biases alone. The
  lifecycle (groups, state, ``step``) is ``torch.ao.pruning.BaseSparsifier``'s.
* **Scores**: ``SaliencyPruner`` ranks rows with Torch-Pruning's own
  ``MagnitudeImportance(p=1, group_reduction="first", normalizer=None)`` (its docstring: "standard
  L1-norm of the first layer in a group") on a one-layer group, which is the row L1 norm the
  contract asks for. ``FPGMPruner`` computes its distances itself: Torch-Pruning's
  ``FPGMImportance`` measures Euclidean distances between ``|w| ** p`` (the filters' magnitudes,
  signs dropped), so ``w`` and ``-w`` count as the same filter and neither ``dist=1`` nor a
  callable distance can be expressed; the contract's FPGM takes ``dist`` between the filters
  themselves.
* **Removal** (``prune``): the masks are baked into the weights (parametrizations removed, masked
  rows zero), then, per masked layer in config order, a fresh ``DependencyGraph`` is built on the
  model and ``get_pruning_group(layer, prune_*_out_channels, masked_rows).prune()`` removes the
  rows and whatever Torch-Pruning couples to them (the next layers' input channels, BatchNorm and
  PReLU channels, flattened linear columns, the model output). Returns the prepared model, pruned
  in place. Layers whose output rows Torch-Pruning removes together (a residual add) must mask the
  same rows; that is checked on the first graph, before anything is removed. Torch-Pruning only
  removes: it folds no masked bias into the next layer, so with ``prune_bias=False`` a biased
  masked row's constant output is simply lost (see the xfails file).

Torch-Pruning traces by running the model, so ``prune()`` needs an example input. It takes one as
``prune(example_inputs=...)`` (a tensor or a tuple of positional inputs); the contract's
``prune()`` has no such argument, so without one it is derived from the model's first
Linear/Conv2d/LSTM (first in ``model.modules()`` order): ``ones(1, in_features)`` for a Linear,
``ones(2, 1, input_size)`` for an LSTM (``(1, 2, input_size)`` when ``batch_first``), and
``ones(1, in_channels, s, s)`` for a Conv2d with the first ``s`` of ``SPATIAL_SIZES`` the model
accepts (a model whose flatten fixes the image size, e.g. MaxPool -> Flatten -> Linear, only runs
at that size). A model none of these fits (several inputs, a first layer that is not the first to
run, integer inputs) makes ``prune()`` raise a ``ValueError`` asking for ``example_inputs``
before anything is modified. Tracing switches the model to eval mode (``DependencyGraph._trace``
calls ``model.eval()``); the adapter restores every module's training flag afterwards.

Not provided (the suites report them *unsupported*): the element-wise sparsifier names, which
Torch-Pruning has nothing for, and ``LSTMSaliencyPruner``: Torch-Pruning's LSTM pruning function
cannot remove hidden units (see ``torch_pruning_adapter.xfails``), so an LSTM pruner here would be
a mask computer whose ``prune()`` always fails.

``version`` is the installed distribution's version: torch-pruning 1.6.1 still declares
``__version__ = "1.6.0"`` in its ``__init__.py``, so ``torch_pruning.__version__`` would misreport it.
"""

from __future__ import annotations

import importlib.metadata
import math
import numbers
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from prunebench.harness.errors import BackendUnavailableError
from torch import nn
from torch.ao.pruning import BaseSparsifier as _TorchBaseSparsifier
from torch.ao.pruning._experimental.pruner import FakeStructuredSparsity
from torch.nn.utils import parametrize

try:
    import torch_pruning as tp
    from torch_pruning.pruner import function as tp_function
except ImportError as error:
    raise BackendUnavailableError("torch-pruning", "torch-pruning", "torch-pruning", error) from error

from .torch_pruning_plan import plan_pruned_rows, refuse_grouped_query_attention, update_attention_sizes


def _installed_version() -> str:
    """The torch-pruning distribution's version; ``__version__`` only where the metadata is missing."""
    try:
        return importlib.metadata.version("torch-pruning")
    except importlib.metadata.PackageNotFoundError:
        return str(tp.__version__)


name = "torch-pruning"
version = _installed_version()
xfails = Path(__file__).with_name("torch_pruning_adapter.xfails")
"""What the suites find wrong, as data: test-id prefixes, each with its classified reason."""

SPATIAL_SIZES: tuple[int, ...] = (8, 16, 28, 32, 64, 224)
"""Image sizes tried, in order, for a derived Conv2d example input: small ones, then MNIST, CIFAR and
ImageNet sizes for models whose flatten -> linear fixes the size."""

LSTM_SEQUENCE_LENGTH = 2
"""Time steps of a derived LSTM example input: more than one, so the recurrence is traced too."""

_LSTM_GATE_WEIGHT = re.compile(r"weight_(ih|hh)_l(\d+)(_reverse)?")
_STRUCTURED_MODULES = (nn.Linear, nn.Conv2d, nn.LSTM)

_OUT_CHANNEL_PRUNING: tuple[tuple[type[nn.Module], Callable[..., Any]], ...] = (
    (nn.Linear, tp.prune_linear_out_channels),
    (nn.Conv2d, tp.prune_conv_out_channels),
    (nn.LSTM, tp_function.prune_lstm_out_channels),  # not in torch_pruning's __all__
)
"""Torch-Pruning's out-channel pruning function for each layer type a row mask can sit on."""


class RowMaskedBias(nn.Module):
    """Parametrization of a bias that zeroes the rows its weight's row mask prunes (``prune_bias=True``).

    It reads the weight parametrization's ``mask`` at every forward, so the bias follows every mask
    update (and every ``.to()``) without a copy of its own.
    """

    def __init__(self, weight_parametrization: nn.Module) -> None:
        super().__init__()
        self._weight_parametrization = [weight_parametrization]  # a list: not registered as a submodule

    def forward(self, bias: torch.Tensor) -> torch.Tensor:
        mask = self._weight_parametrization[0].mask
        return bias * (mask != 0).to(bias.dtype)


def _bias_name(module: nn.Module, tensor_name: str) -> str | None:
    """The bias that belongs to the rows of ``module.<tensor_name>``, when the module has one."""
    if isinstance(module, nn.LSTM):
        gate = _LSTM_GATE_WEIGHT.fullmatch(tensor_name)
        return f"bias_{gate[1]}_l{gate[2]}{gate[3] or ''}" if gate and module.bias else None
    return "bias" if tensor_name == "weight" and getattr(module, "bias", None) is not None else None


def _structured_config(model: nn.Module) -> list[dict[str, str]]:
    """One entry per Linear/Conv2d weight and per LSTM gate weight (``weight_ih_l<k>``, ``weight_hh_l<k>``)."""
    config = []
    for fqn, module in model.named_modules():
        prefix = f"{fqn}." if fqn else ""
        module_type = parametrize.type_before_parametrizations(module)
        if module_type in (nn.Linear, nn.Conv2d):
            config.append({"tensor_fqn": f"{prefix}weight"})
        elif module_type is nn.LSTM:
            suffixes = ("", "_reverse") if module.bidirectional else ("",)
            config += [
                {"tensor_fqn": f"{prefix}weight_{kind}_l{layer}{suffix}"}
                for layer in range(module.num_layers)
                for kind in ("ih", "hh")
                for suffix in suffixes
            ]
    return config


@contextmanager
def _training_flags_kept(model: nn.Module) -> Iterator[None]:
    """Restore every module's ``training`` flag on exit (tracing and probing run in eval mode)."""
    flags = [(module, module.training) for module in model.modules()]
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


def _first_layer(model: nn.Module) -> nn.Module | None:
    return next((module for module in model.modules() if isinstance(module, _STRUCTURED_MODULES)), None)


def _candidate_inputs(layer: nn.Module) -> list[torch.Tensor]:
    """Example inputs shaped for ``layer``, on its device and in its dtype, in the order they are tried."""
    weight = next(layer.parameters())
    like = {"device": weight.device, "dtype": weight.dtype}
    if isinstance(layer, nn.Linear):
        return [torch.ones(1, layer.in_features, **like)]
    if isinstance(layer, nn.LSTM):
        shape = (1, LSTM_SEQUENCE_LENGTH) if layer.batch_first else (LSTM_SEQUENCE_LENGTH, 1)
        return [torch.ones(*shape, layer.input_size, **like)]
    return [torch.ones(1, layer.in_channels, size, size, **like) for size in SPATIAL_SIZES]


def derive_example_inputs(model: nn.Module) -> tuple[torch.Tensor]:
    """An input ``model`` accepts, shaped from its first Linear/Conv2d/LSTM; ``ValueError`` when none fits."""
    layer = _first_layer(model)
    if layer is None:
        raise ValueError("prune() needs example_inputs: the model has no Linear, Conv2d or LSTM to derive one from")
    tried = []
    with _training_flags_kept(model), torch.no_grad():
        model.eval()  # no BatchNorm statistics update while probing
        for candidate in _candidate_inputs(layer):
            try:
                model(candidate)
            except (RuntimeError, ValueError, TypeError) as error:
                tried.append(f"{tuple(candidate.shape)}: {type(error).__name__}: {str(error).splitlines()[0]}")
            else:
                return (candidate,)
    raise ValueError(
        f"prune() needs example_inputs: no input derived from the first layer ({layer}) runs the model; "
        f"tried {'; '.join(tried)}. Call prune(example_inputs=...) with an input the model accepts"
    )


@dataclass
class _MaskedLayer:
    """A layer to shrink and its masked rows (LSTM: hidden units), sorted."""

    fqn: str
    module: nn.Module
    pruned: list[int]


def _rows(module: nn.Module) -> int:
    if isinstance(module, nn.LSTM):
        return module.hidden_size
    return module.weight.shape[0]


def _lstm_pruned_units(fqn: str, module: nn.LSTM, masks: dict[str, torch.Tensor]) -> list[int]:
    """The hidden units every masked gate weight of the LSTM prunes in all four gates alike."""
    hidden = module.hidden_size
    unit_sets = {}
    for tensor_name, mask in masks.items():
        pruned_per_gate = {tuple((~mask.bool()).reshape(4, hidden)[g].nonzero().flatten().tolist()) for g in range(4)}
        if len(pruned_per_gate) != 1:
            raise ValueError(
                f"{fqn}.{tensor_name}: the four gates mask different hidden units ({sorted(pruned_per_gate)}); "
                "only units masked in every gate can be removed"
            )
        unit_sets[tensor_name] = pruned_per_gate.pop()
    if len(set(unit_sets.values())) > 1:
        raise ValueError(f"{fqn}: its masked weights prune different hidden units: {unit_sets}")
    return list(next(iter(unit_sets.values()), ()))


def _out_channel_pruning_fn(module: nn.Module) -> Callable[..., Any]:
    for layer_type, pruning_fn in _OUT_CHANNEL_PRUNING:
        if isinstance(module, layer_type):
            return pruning_fn
    raise TypeError(f"no Torch-Pruning out-channel function for {type(module).__name__}")


def _dependency_graph(model: nn.Module, example_inputs: tuple[Any, ...]) -> tp.DependencyGraph:
    """Torch-Pruning's graph of ``model``, traced with ``example_inputs``; training flags left as they were."""
    with _training_flags_kept(model), torch.enable_grad():  # Torch-Pruning traces through autograd
        return tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs, verbose=False)


def _coupled_layers(graph: tp.DependencyGraph, layer: _MaskedLayer) -> Iterator[tuple[nn.Module, list[int], bool]]:
    """Other Linear/Conv2d/LSTM layers whose *output* rows Torch-Pruning removes with ``layer``'s, and which.

    Such coupling comes from ops that tie channels together (a residual add, a concat feeding a
    split). The third item says the coupling is a depthwise convolution after ``layer``, whose
    channels follow its input's: removed with ``layer``'s rows whatever its own mask says.
    """
    group = graph.get_pruning_group(layer.module, _out_channel_pruning_fn(layer.module), layer.pruned)
    for dep, idxs in group:
        target = dep.target.module
        if target is layer.module or not isinstance(target, _STRUCTURED_MODULES):
            continue
        if graph.is_out_channel_pruning_fn(dep.handler):
            yield target, sorted(idxs), dep.handler == tp.prune_depthwise_conv_out_channels


def _independent_layers(graph: tp.DependencyGraph, layers: list[_MaskedLayer]) -> list[_MaskedLayer]:
    """``layers`` less those another layer's group prunes with it; ``ValueError`` when that is not their mask.

    Torch-Pruning removes coupled output rows together: exact only when every coupled layer masks
    the same rows. Checked on one graph before anything is removed.
    """
    by_module = {id(layer.module): layer for layer in layers}
    names = {id(module): fqn for fqn, module in graph.model.named_modules()}
    covered: set[int] = set()
    independent = []
    for layer in layers:
        if id(layer.module) in covered:
            continue
        for target, idxs, depthwise in _coupled_layers(graph, layer):
            partner = by_module.get(id(target))
            if depthwise:  # removed with this layer's rows; pruned again on its own only when it masks others
                if partner is not None and partner.pruned == idxs:
                    covered.add(id(target))
                continue
            if partner is None or partner.pruned != idxs:
                masked = "no mask" if partner is None else f"its mask (rows {partner.pruned})"
                raise ValueError(
                    f"pruning rows {layer.pruned} of {layer.fqn} makes Torch-Pruning also remove output rows {idxs} "
                    f"of {names.get(id(target), type(target).__name__)}, which {masked} prunes: the channels "
                    "are coupled (e.g. by a residual add); mask the same rows in every coupled layer"
                )
            covered.add(id(target))
        independent.append(layer)
    return independent


class BaseStructuredSparsifier(_TorchBaseSparsifier):
    """Row masks under the contract's lifecycle; ``prune()`` hands the masked rows to Torch-Pruning.

    Subclasses implement ``update_mask`` to clear rows of ``module.parametrizations[tensor_name][0].mask``.
    ``defaults`` are per-tensor settings a config entry may override; ``prune_bias`` (default True)
    zeroes a masked row's bias in the masked model.
    """

    def __init__(self, defaults: Mapping[str, Any] | None = None, patterns: object = None) -> None:
        if patterns is not None:
            raise NotImplementedError(
                f"patterns={patterns!r}: this adapter matches no patterns; Torch-Pruning's DependencyGraph "
                "finds what each pruned layer feeds by tracing the model"
            )
        super().__init__(dict(defaults or {}))

    def prepare(
        self, model: nn.Module, config: list[dict[str, Any]] | None, *, example_inputs: Sequence[Any] | None = None
    ) -> None:
        """torch's ``prepare``; ``example_inputs`` (positional inputs) switches ``SaliencyPruner`` to planned masks.

        With example inputs, ``step()`` masks what Torch-Pruning's own pruner plans for whole coupled groups
        (``torch_pruning_plan``), and ``prune()`` traces with them when called without its own.
        """
        self._example_inputs = None if example_inputs is None else _as_inputs(example_inputs)
        super().prepare(model, config)

    def make_config_from_model(self, model: nn.Module, SUPPORTED_MODULES: object = None) -> None:  # noqa: N803 (torch's name)
        self.config = _structured_config(model)

    def _prepare(self, *args: Any, **kwargs: Any) -> None:
        for group in self.groups:
            module, tensor_name = group["module"], group["tensor_name"]
            tensor = getattr(module, tensor_name)
            mask = group.get("mask")
            if mask is None:
                mask = torch.ones(tensor.shape[0], dtype=torch.bool, device=tensor.device)
            parametrize.register_parametrization(module, tensor_name, FakeStructuredSparsity(mask.bool()))
            weight_parametrization = module.parametrizations[tensor_name][0]
            self.state[group["tensor_fqn"]]["mask"] = weight_parametrization.mask
            bias_name = _bias_name(module, tensor_name)
            if group.get("prune_bias", True) and bias_name is not None:
                parametrize.register_parametrization(module, bias_name, RowMaskedBias(weight_parametrization))

    def _bake_masks(self, biases_only: bool = False) -> None:
        """Remove the parametrizations this pruner attached, leaving the masked values in the tensors."""
        for group in self.groups:
            module, tensor_name = group["module"], group["tensor_name"]
            for name in (_bias_name(module, tensor_name), None if biases_only else tensor_name):
                if name is not None and parametrize.is_parametrized(module, name):
                    parametrize.remove_parametrizations(module, name, leave_parametrized=True)

    def squash_mask(self, *args: Any, **kwargs: Any) -> None:
        """Bake masks (and zeroed biases) into the tensors; no parametrization is left."""
        self._bake_masks(biases_only=True)
        super().squash_mask(*args, **kwargs)

    def _masked_layers(self) -> list[_MaskedLayer]:
        """Each masked module once, in config order, with its masked rows (LSTM: hidden units)."""
        masks: dict[str, dict[str, torch.Tensor]] = {}
        modules: dict[str, nn.Module] = {}
        for group in self.groups:
            module = group["module"]
            if parametrize.is_parametrized(module, group["tensor_name"]):
                mask = module.parametrizations[group["tensor_name"]][0].mask
                masks.setdefault(group["module_fqn"], {})[group["tensor_name"]] = mask.detach().cpu()
                modules[group["module_fqn"]] = module
        layers = []
        for fqn, module in modules.items():
            if isinstance(module, nn.LSTM):
                pruned = _lstm_pruned_units(fqn, module, masks[fqn])
            else:
                pruned = (~masks[fqn]["weight"].bool()).nonzero().flatten().tolist()
            layers.append(_MaskedLayer(fqn, module, sorted(pruned)))
        return layers

    def prune(self, example_inputs: torch.Tensor | Sequence[Any] | None = None) -> nn.Module:
        """Remove every masked row with Torch-Pruning; returns the prepared model, pruned in place.

        ``example_inputs`` (a tensor or a tuple of positional inputs) is what Torch-Pruning traces
        the model with; without it one is derived from the first layer (see the module docstring),
        and a ``ValueError`` is raised before the model is touched when none fits. Layers whose
        output rows Torch-Pruning couples (a residual add) must mask the same rows, else a
        ``ValueError`` is raised with the masks baked into the weights but nothing removed.
        """
        if getattr(self, "model", None) is None:
            raise RuntimeError("prune() needs a prepared model: call prepare(model, config) first")
        example_inputs = example_inputs if example_inputs is not None else getattr(self, "_example_inputs", None)
        if example_inputs is None:
            example_inputs = derive_example_inputs(self.model)
        example_inputs = _as_inputs(example_inputs)
        refuse_grouped_query_attention(self.model)
        layers = [layer for layer in self._masked_layers() if layer.pruned]
        self._bake_masks()
        graph = _dependency_graph(self.model, example_inputs)
        for index, layer in enumerate(_independent_layers(graph, layers)):
            if index:  # the previous group changed the model: trace it again
                graph = _dependency_graph(self.model, example_inputs)
            graph.get_pruning_group(layer.module, _out_channel_pruning_fn(layer.module), layer.pruned).prune()
            update_attention_sizes(self.model)  # before the next trace: a forward reshapes with them
        return self.model


def _as_inputs(example_inputs: torch.Tensor | Sequence[Any]) -> tuple[Any, ...]:
    """Positional inputs as a tuple: Torch-Pruning would unpack a bare tensor along dim 0."""
    return (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)


def _check_sparsity_level(level: object, where: str) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or math.isnan(level):
        raise TypeError(f"sparsity_level{where} must be a real number in [0, 1], got {level!r}")
    return float(level)


def _one_layer_group(module: nn.Module) -> tp.Group:
    """A Torch-Pruning group holding only ``module``'s own output rows, as importance classes read groups."""
    node = tp.Node(module, grad_fn=None, name=type(module).__name__)
    pruning_fn = _out_channel_pruning_fn(module)
    rows = list(range(_rows(module)))
    group = tp.Group()
    group.add_dep(tp.Dependency(pruning_fn, pruning_fn, source=node, target=node), rows)
    group[0].root_idxs = rows  # what DependencyGraph.get_pruning_group attaches to every item
    return group


_ROW_L1 = tp.importance.MagnitudeImportance(p=1, group_reduction="first", normalizer=None)
"""Torch-Pruning's "standard L1-norm of the first layer in a group" (its own docstring)."""


class SaliencyPruner(BaseStructuredSparsifier):
    """Mask the ``int(rows * sparsity_level)`` rows of lowest L1 norm, scored by Torch-Pruning.

    As in torch, the score is taken on the masked weight, so rows already masked (score 0) stay masked.
    Only Linear and Conv2d weights can be scored (Torch-Pruning's importance has no LSTM branch).
    """

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        if tensor_name != "weight" or not isinstance(module, (nn.Linear, nn.Conv2d)):
            raise NotImplementedError(
                f"SaliencyPruner scores rows with Torch-Pruning's MagnitudeImportance, which reads only the "
                f"'weight' of Linear/Conv layers, not {type(module).__name__}.{tensor_name}"
            )
        level = _check_sparsity_level(sparsity_level, f" for {kwargs.get('tensor_fqn', tensor_name)!r}")
        mask = module.parametrizations[tensor_name][0].mask
        saliency = _ROW_L1(_one_layer_group(module))
        count = int(mask.numel() * level)
        mask[torch.topk(saliency.to(mask.device), count, largest=False).indices] = False

    def step(self, *args: Any, **kwargs: Any) -> None:
        """Per-layer masks; after ``prepare(..., example_inputs=...)``, the masks Torch-Pruning plans for whole groups.

        The planned mode takes one ``sparsity_level`` for the model (Torch-Pruning's ``pruning_ratio``).
        """
        if getattr(self, "_example_inputs", None) is None:
            super().step(*args, **kwargs)
        elif self.enable_mask_update:
            self._apply_planned_masks()

    def _apply_planned_masks(self) -> None:
        groups = [g for g in self.groups if g["tensor_name"] == "weight"]
        levels = {_check_sparsity_level(g["sparsity_level"], f" for {g['tensor_fqn']!r}") for g in groups}
        if len(levels) != 1:
            raise NotImplementedError(
                f"planned masks take one sparsity_level for the model (Torch-Pruning's pruning_ratio), got {levels}"
            )
        fqns = [g["module_fqn"] for g in groups]
        rows = plan_pruned_rows(self.model, fqns, self._example_inputs, levels.pop())
        for group in groups:
            mask = group["module"].parametrizations.weight[0].mask
            mask.fill_(True)
            mask[rows[group["module_fqn"]]] = False


def _l1_distance(rows: torch.Tensor) -> torch.Tensor:
    return torch.cdist(rows, rows, p=1)


def _l2_distance(rows: torch.Tensor) -> torch.Tensor:
    return torch.cdist(rows, rows, p=2)


_DISTANCES: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {1: _l1_distance, 2: _l2_distance}


class FPGMPruner(BaseStructuredSparsifier):
    """Mask the filters nearest the geometric median: the ``round(rows * sparsity_level)`` smallest summed distances.

    ``dist`` is 1 (L1), 2 or None (L2) between flattened filters, or a callable mapping a
    (rows, features) tensor to its (rows, rows) distance matrix. Computed here, not with
    Torch-Pruning's ``FPGMImportance`` (see the module docstring). As in torch, distances are taken on
    the masked weight (a filter an earlier ``step()`` masked counts as a zero filter), and the mask is
    recomputed on each ``step()``.
    """

    def __init__(self, sparsity_level: float = 0.5, dist: int | Callable[..., torch.Tensor] | None = None) -> None:
        _check_sparsity_level(sparsity_level, "")
        if callable(dist):
            self.dist_fn = dist
        elif dist is None or dist in _DISTANCES:
            self.dist_fn = _DISTANCES[2 if dist is None else dist]
        else:
            raise NotImplementedError(f"dist={dist!r}: use 1 (L1), 2 or None (L2), or a callable distance matrix")
        super().__init__(defaults={"sparsity_level": sparsity_level})

    def _compute_distance(self, weight: torch.Tensor) -> torch.Tensor:
        """Per filter, the sum of absolute distances to every filter (itself included, at 0)."""
        rows = weight.reshape(weight.shape[0], -1)
        if rows.dtype in (torch.float16, torch.bfloat16):
            rows = rows.float()  # cdist has no half-precision kernel
        return self.dist_fn(rows).abs().sum(1)

    def update_mask(self, module: nn.Module, tensor_name: str, sparsity_level: float, **kwargs: Any) -> None:
        level = min(max(_check_sparsity_level(sparsity_level, ""), 0.0), 1.0)
        parametrization = module.parametrizations[tensor_name]
        mask = parametrization[0].mask
        count = min(round(level * mask.numel()), mask.numel())
        # scored before the mask is reset: the masked weight, as torch scores it
        distance = self._compute_distance(getattr(module, tensor_name).detach()) if count else None
        mask.fill_(True)
        if distance is not None:
            mask[torch.topk(distance.to(mask.device), count, largest=False).indices] = False


__all__ = [
    "BaseStructuredSparsifier",
    "FPGMPruner",
    "FakeStructuredSparsity",
    "RowMaskedBias",
    "SaliencyPruner",
    "derive_example_inputs",
]
