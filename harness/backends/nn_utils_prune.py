"""The ``nn-utils-prune`` backend: ``torch.nn.utils.prune``'s hooks and buffers driving the unstructured mask contract.

``torch.nn.utils.prune`` is part of torch, so this backend is always available. The lifecycle
(groups, ``prepare`` / ``step`` / ``state_dict`` / ``squash_mask`` / ``convert``) is the adapter's,
written to ``torch.ao.pruning.BaseSparsifier``'s contract; the masking machinery is the library's:

* **Attach** (``prepare``, ``load_state_dict``): ``prune.custom_from_mask(module, name, ones)``. The
  library moves the parameter to ``<name>_orig`` (the same ``Parameter`` object, so optimizers keep
  it), registers the mask as the buffer ``<name>_mask`` (in the weight's dtype: ``CustomFromMask``
  multiplies a ``ones_like(weight)`` default mask by the one given) and a forward pre-hook, the
  ``CustomFromMask`` instance, that sets ``module.<name> = <name>_orig * <name>_mask`` before every
  forward. ``FakeSparsity`` is that class, ``prune.CustomFromMask``: the object that applies a mask.
* **Update** (``step``): ``update_mask`` writes the new mask into the ``<name>_mask`` buffer in place
  (``mask_buffer(module, name)``), replacing it as ``torch.ao.pruning`` does; it does not go through
  ``prune.custom_from_mask`` again, which would stack a ``PruningContainer`` and AND the masks
  together, so a mask could never grow back. The plain attribute ``module.<name>`` is the hook's
  result from its last run, so ``step`` then runs the hook once (``hook(module, ())``) to refresh it.
* **Squash** (``squash_mask``): ``prune.remove(module, name)``: ``<name>`` becomes the masked
  ``Parameter`` again; ``<name>_orig``, ``<name>_mask`` and the hook are gone.

Masks, per sparsifier and feature:

* ``WeightNormSparsifier`` with 1x1 blocks, ``zeros_per_block=1`` and the built-in L1 / L2 norm:
  **the library computes** it: ``prune.L1Unstructured(amount=k).compute_mask(masked_weight, ones)``,
  the mask ``prune.l1_unstructured`` would attach. Ranking by ``|w|`` is ranking by ``w * w``. The
  adapter passes ``amount`` as the contract's integer count ``k``: ``round(level * n)`` (Python's
  round-half-to-even, as ``prune`` rounds a float ``amount`` too), but at most ``n - 1`` below level
  1 (one element always survives), all ``n`` at level >= 1, none at level <= 0. A float
  ``amount=level`` would zero all ``n`` where ``round(level * n) == n`` and reject levels outside
  [0, 1]. The scores are the masked weight (``hook.apply_mask(module)``) and the default mask is all
  ones: the new mask replaces the old one instead of pruning only the survivors.
* ``WeightNormSparsifier`` with any other block shape, ``zeros_per_block`` below the block size or a
  callable ``norm``: ``nn.utils.prune`` has no block-wise method (``LnStructured`` removes whole
  rows or columns) and ``L1Unstructured`` ranks ``abs(scores)``, which reorders a norm that can be
  negative: **the adapter computes** the mask (``_block_mask``: block means as
  ``F.avg_pool2d(ceil_mode=True)`` takes them, edge blocks over the elements they have; the
  ``zeros_per_block`` lowest elements of each chosen block), **the library attaches** it.
* ``NearlyDiagonalSparsifier``: the band ``|row - col| <= nearliness // 2`` does not depend on the
  weights and no ``prune`` method produces it: adapter computes, library attaches.

``update_mask`` of a subclass finds its mask with ``mask_buffer(module, tensor_name)``; code written
for ``torch.ao.pruning`` reads ``module.parametrizations[name][0].mask`` instead, which does not
exist here, and ``parametrize.is_parametrized`` is False. That storage difference is the contract
difference of this backend; ``mask_access`` (``PruneBufferAccess``) tells the suites where the masks
live, so they check what the masks are. What the storage does to the model around the masks is
declared in ``nn_utils_prune.xfails``: the model's ``state_dict`` holds ``weight_orig`` and the
``weight_mask`` buffer (not ``parametrizations.weight.original``, and the mask is saved with the
model), and a prepared model that has run a forward with autograd on cannot be ``copy.deepcopy``-ed
(below). Code outside prunebench that reads masks through parametrizations still needs porting.

``convert(inplace=False)`` deep-copies the model, which ``copy.deepcopy`` refuses once the hook has
run with autograd on: the attribute it sets is a non-leaf tensor (pytorch#37322, still the case in
torch 2.13). The attribute is derived state the hook recomputes before every forward, so the adapter
copies it as a detached tensor (``_deepcopy_pruned``); the source model is left untouched.
"""

from __future__ import annotations

import abc
import copy
import numbers
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

name = "nn-utils-prune"
version = torch.__version__
xfails = Path(__file__).with_name("nn_utils_prune.xfails")
"""What the suites find wrong, as data: test-id prefixes, each with its classified reason."""

FakeSparsity = prune.CustomFromMask
"""The contract's mask-applying object: here ``prune``'s forward pre-hook class, not a parametrization."""

SUPPORTED_MODULES: tuple[type[nn.Module], ...] = (nn.Linear,)
"""Module types ``prepare(model, config=None)`` configures (exact types, as ``torch.ao.pruning``)."""

KEYS_NOT_SAVED: tuple[str, ...] = ("module", "module_fqn", "tensor_name")
"""Group keys ``state_dict`` leaves out: a live module and what ``tensor_fqn`` derives again."""

NormFn = Callable[[torch.Tensor], torch.Tensor]
_BUILTIN_NORMS: dict[int, NormFn] = {1: torch.abs, 2: torch.square}


def _pruning_hooks(module: nn.Module) -> Iterator[prune.BasePruningMethod]:
    """The ``prune`` methods masking tensors of ``module`` before each forward.

    ``prune`` keeps no index of its hooks; ``prune.remove`` finds one by this same scan.
    """
    return (hook for hook in module._forward_pre_hooks.values() if isinstance(hook, prune.BasePruningMethod))


def pruning_hook(module: nn.Module, tensor_name: str) -> prune.BasePruningMethod | None:
    """The ``prune`` method that masks ``module.<tensor_name>`` before each forward, if any."""
    return next((hook for hook in _pruning_hooks(module) if hook._tensor_name == tensor_name), None)


def mask_buffer(module: nn.Module, tensor_name: str) -> torch.Tensor:
    """The live mask of ``module.<tensor_name>``: ``prune``'s ``<tensor_name>_mask`` buffer."""
    if pruning_hook(module, tensor_name) is None:
        raise ValueError(f"{type(module).__name__}.{tensor_name} is not pruned: it has no {tensor_name}_mask buffer")
    return getattr(module, f"{tensor_name}_mask")


class PruneBufferAccess:
    """Where ``prune`` keeps a mask, for the suites (``harness.mask_access``): the ``<name>_mask`` buffer
    behind a forward pre-hook (the ``FakeSparsity`` object), the unmasked tensor as ``<name>_orig``."""

    def is_masked(self, module: nn.Module, tensor_name: str | None) -> bool:
        return any(tensor_name in (None, hook._tensor_name) for hook in _pruning_hooks(module))

    def mask_holder(self, module: nn.Module, tensor_name: str) -> object | None:
        return pruning_hook(module, tensor_name)

    def mask_of(self, module: nn.Module, tensor_name: str) -> torch.Tensor | None:
        return getattr(module, f"{tensor_name}_mask") if pruning_hook(module, tensor_name) is not None else None

    def original_of(self, module: nn.Module, tensor_name: str) -> torch.Tensor:
        return getattr(module, f"{tensor_name}_orig")


mask_access = PruneBufferAccess()
"""Tells the suites where this backend's masks live, so they check the masks rather than their storage."""


def _refresh(module: nn.Module, tensor_name: str) -> None:
    """Set ``module.<tensor_name>`` to orig * mask now, as the forward pre-hook does before each forward."""
    hook = pruning_hook(module, tensor_name)
    if hook is not None:
        hook(module, ())


def _tensor_info(model: nn.Module, tensor_fqn: object) -> dict[str, Any]:
    """``module``, ``module_fqn``, ``tensor_name`` and ``tensor_fqn`` of a parameter; ValueError if there is none."""
    if not isinstance(tensor_fqn, str) or not tensor_fqn:
        raise ValueError(f"tensor_fqn must be a non-empty string such as 'linear1.weight', got {tensor_fqn!r}")
    module_fqn, _, tensor_name = tensor_fqn.rpartition(".")
    try:
        module = model.get_submodule(module_fqn)
    except AttributeError as error:
        raise ValueError(f"tensor_fqn {tensor_fqn!r}: the model has no module {module_fqn!r}") from error
    return {"module": module, "module_fqn": module_fqn, "tensor_name": tensor_name, "tensor_fqn": tensor_fqn}


def _check_prunable(group: dict[str, Any]) -> None:
    module, tensor_name = group["module"], group["tensor_name"]
    if pruning_hook(module, tensor_name) is not None:
        raise ValueError(
            f"{group['tensor_fqn']!r} is already pruned by torch.nn.utils.prune; prune.remove it before prepare"
        )
    if not isinstance(module._parameters.get(tensor_name), nn.Parameter):
        raise ValueError(
            f"tensor_fqn {group['tensor_fqn']!r}: {type(module).__name__} has no parameter {tensor_name!r} "
            "(torch.nn.utils.prune masks parameters only)"
        )


def _linear_config(model: nn.Module) -> list[dict[str, str]]:
    """``{"tensor_fqn": "<fqn>.weight"}`` for every module of a supported type, at any depth, not inside one."""
    config = []
    stack = [("", model)]
    while stack:
        prefix, parent = stack.pop()
        for child_name, child in parent.named_children():
            fqn = f"{prefix}{child_name}"
            if type(child) in SUPPORTED_MODULES:
                config.append({"tensor_fqn": f"{fqn}.weight"})
            else:
                stack.append((f"{fqn}.", child))
    return config


def _carries(module: nn.Module, method_class: type) -> bool:
    """Whether a ``prune`` hook of ``method_class`` (alone or in a ``PruningContainer``) masks ``module``."""
    for hook in module._forward_pre_hooks.values():
        methods = list(hook) if isinstance(hook, prune.PruningContainer) else [hook]
        if any(isinstance(method, method_class) for method in methods):
            return True
    return False


def _deepcopy_pruned(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)``, the ``prune`` hooks' non-leaf results copied as detached tensors.

    After the hook ran with autograd on, ``module.<name>`` is ``orig * mask`` with a ``grad_fn`` and
    ``copy.deepcopy`` raises (pytorch#37322); the hook recomputes it at the copy's next forward anyway.
    """
    memo: dict[int, Any] = {}
    for module in model.modules():
        for hook in _pruning_hooks(module):
            derived = module.__dict__.get(hook._tensor_name)
            if isinstance(derived, torch.Tensor) and derived.grad_fn is not None:
                memo[id(derived)] = derived.detach().clone()
    return copy.deepcopy(model, memo)


def _swapped(module: nn.Module, mapping: dict[type[nn.Module], type[nn.Module]]) -> nn.Module:
    """``mapping[type(module)].from_dense(module)``, with the module's own hooks, on the module's device.

    ``from_dense`` reads the masked tensors (refreshed first). The ``prune`` hooks stay behind: the
    new module has no ``<name>_orig`` / ``<name>_mask`` for them to combine.
    """
    for hook in list(_pruning_hooks(module)):
        hook(module, ())
    swapped = mapping[type(module)].from_dense(module)  # type: ignore[attr-defined]
    for hook in module._forward_pre_hooks.values():
        if not isinstance(hook, prune.BasePruningMethod):
            swapped.register_forward_pre_hook(hook)
    for hook in module._forward_hooks.values():
        swapped.register_forward_hook(hook)
    devices = {tensor.device for tensor in [*module.parameters(), *module.buffers()]}
    if len(devices) > 1:
        raise ValueError(f"convert swaps single-device modules only; {type(module).__name__} is on {devices}")
    return swapped.to(devices.pop()) if devices else swapped


class BaseSparsifier(abc.ABC):
    """``torch.ao.pruning.BaseSparsifier``'s lifecycle, on ``torch.nn.utils.prune``'s masking machinery.

    ``defaults`` are copied into every group unless its config entry sets the key. ``state`` is a
    plain dict (``torch.load(weights_only=True)`` reads it back), one entry per configured tensor
    holding ``"mask"``, the live ``<name>_mask`` buffer. Subclasses implement ``update_mask`` and
    find the mask with ``mask_buffer(module, tensor_name)``.
    """

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        self.defaults: dict[str, Any] = defaults or {}
        self.state: dict[str, dict[str, Any]] = {}
        self.groups: list[dict[str, Any]] = []
        self.enable_mask_update = True
        self.model: nn.Module | None = None

    @abc.abstractmethod
    def update_mask(self, module: nn.Module, tensor_name: str, **kwargs: Any) -> None:
        """Write the new mask of ``module.<tensor_name>`` into ``mask_buffer(module, tensor_name)``."""

    def check_group(self, group: dict[str, Any]) -> None:
        """Reject a group at ``prepare``: its tensor must be an unpruned parameter. Subclasses extend it."""
        _check_prunable(group)

    def prepare(self, model: nn.Module, config: list[dict[str, Any]] | None) -> None:
        """Mask every configured tensor (every Linear weight for ``config=None``) with an all-ones mask.

        Every entry is checked before any tensor is touched, so a bad config leaves the model as it was.
        """
        self.model = model
        self.config = _linear_config(model) if config is None else config
        groups = []
        for entry in self.config:  # a loop, not a comprehension: warnings point at the caller (stacklevel)
            groups.append(self._group(model, entry))
        fqns = [group["tensor_fqn"] for group in groups]
        repeated = sorted({fqn for fqn in fqns if fqns.count(fqn) > 1})
        if repeated:
            raise ValueError(f"config names {repeated} more than once; each tensor takes one mask")
        for group in groups:
            module, tensor_name = group["module"], group["tensor_name"]
            prune.custom_from_mask(module, tensor_name, torch.ones_like(getattr(module, tensor_name)))
            self.state.setdefault(group["tensor_fqn"], {})["mask"] = mask_buffer(module, tensor_name)
        self.groups.extend(groups)

    def _group(self, model: nn.Module, entry: object) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise TypeError(f"config entries must be dicts such as {{'tensor_fqn': 'linear1.weight'}}, got {entry!r}")
        if "tensor_fqn" not in entry:
            raise ValueError(f"config entry {entry!r} has no 'tensor_fqn'")
        group = copy.deepcopy(self.defaults)
        group.update(entry)
        info = _tensor_info(model, group["tensor_fqn"])
        clashing = [key for key in info if key in group and group[key] is not info[key] and group[key] != info[key]]
        if clashing:
            raise ValueError(f"config entry {entry!r}: {clashing} disagree with tensor_fqn {group['tensor_fqn']!r}")
        group.update(info)
        self.check_group(group)
        return group

    def step(self, use_path: bool = True) -> None:
        """``update_mask(**group)`` for every group (without autograd), then refresh the masked tensors."""
        if not self.enable_mask_update:
            return
        with torch.no_grad():
            for group in self.groups:
                self.update_mask(**group)
        for group in self.groups:
            _refresh(group["module"], group["tensor_name"])

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {tensor_fqn: {"mask": ..., ...}}, "groups": [...]}``: plain dicts, no modules."""
        return {
            "state": {fqn: dict(entry) for fqn, entry in self.state.items()},
            "groups": [{k: v for k, v in group.items() if k not in KEYS_NOT_SAVED} for group in self.groups],
        }

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Restore groups and masks into the prepared model; the argument is left as it was.

        A saved tensor the model does not prune yet is pruned first; a saved mask is copied into the
        live ``<name>_mask`` buffer (in its dtype and on its device), not adopted.
        """
        if self.model is None:
            raise RuntimeError("load_state_dict needs the model: call prepare(model, config) first")
        groups = copy.deepcopy(state_dict["groups"])
        state = {}
        for tensor_fqn, saved in state_dict["state"].items():
            try:
                info = _tensor_info(self.model, tensor_fqn)
            except ValueError:
                if strict:
                    raise
                continue
            state[tensor_fqn] = self._restore(info, saved)
        for group in groups:
            group.update(_tensor_info(self.model, group["tensor_fqn"]))
        self.state, self.groups = state, groups

    @staticmethod
    def _restore(info: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
        module, tensor_name = info["module"], info["tensor_name"]
        if pruning_hook(module, tensor_name) is None:
            prune.custom_from_mask(module, tensor_name, torch.ones_like(getattr(module, tensor_name)))
        mask = mask_buffer(module, tensor_name)
        if saved.get("mask") is not None:
            if tuple(saved["mask"].shape) != tuple(mask.shape):  # copy_ would broadcast silently
                raise ValueError(
                    f"saved mask of {info['tensor_fqn']!r} has shape {tuple(saved['mask'].shape)}, "
                    f"the tensor has {tuple(mask.shape)}"
                )
            with torch.no_grad():
                mask.copy_(saved["mask"])
            _refresh(module, tensor_name)
        entry = {key: copy.deepcopy(value) for key, value in saved.items() if key != "mask"}
        entry["mask"] = mask
        return entry

    def squash_mask(
        self,
        params_to_keep: tuple[str, ...] | None = None,
        params_to_keep_per_layer: dict[str, tuple[str, ...]] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """``prune.remove`` every masked tensor; keep the named group settings in ``module.sparse_params``."""
        for group in self.groups:
            module = group["module"]
            prune.remove(module, group["tensor_name"])
            sparse_params = {key: group[key] for key in params_to_keep or ()}
            per_layer = (params_to_keep_per_layer or {}).get(group["module_fqn"]) or ()
            sparse_params.update({key: group[key] for key in per_layer})
            if sparse_params:
                module.sparse_params = sparse_params

    def convert(
        self,
        module: nn.Module,
        mapping: dict[type[nn.Module], type[nn.Module]] | None = None,
        inplace: bool = False,
        parameterization: type = FakeSparsity,
    ) -> nn.Module:
        """Swap every submodule with a ``parameterization`` hook whose type is in ``mapping``, via ``from_dense``."""
        if mapping is None:
            raise NotImplementedError("convert needs a mapping {dense module type: sparse module type}")
        if not inplace:
            module = _deepcopy_pruned(module)
        for child_name, child in list(module.named_children()):
            if type(child) in mapping and _carries(child, parameterization):
                module._modules[child_name] = _swapped(child, mapping)
            else:
                self.convert(child, mapping=mapping, inplace=True, parameterization=parameterization)
        return module


def _check_level(level: object) -> float:
    """A real number, clamped into [0, 1] with a warning when outside; NaN, bools and non-numbers raise."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or level != level:
        raise ValueError(f"sparsity_level must be a real number in [0, 1], got {level!r}")
    if not 0.0 <= level <= 1.0:
        # _check_level <- check_group <- _group <- prepare <- the caller of prepare
        warnings.warn(f"sparsity_level={level!r} is outside [0, 1]; clamped", stacklevel=5)
    return min(1.0, max(0.0, float(level)))


def _check_block(block_shape: object, zeros_per_block: object) -> tuple[tuple[int, int], int]:
    if not (
        isinstance(block_shape, (tuple, list))
        and len(block_shape) == 2
        and all(isinstance(side, int) and not isinstance(side, bool) and side > 0 for side in block_shape)
    ):
        raise ValueError(f"sparse_block_shape must be a pair of positive ints (rows, cols), got {block_shape!r}")
    size = block_shape[0] * block_shape[1]
    if isinstance(zeros_per_block, bool) or not isinstance(zeros_per_block, int) or not 0 <= zeros_per_block <= size:
        raise ValueError(
            f"zeros_per_block must be an int in [0, {size}] for a {block_shape} block, got {zeros_per_block!r}"
        )
    return (block_shape[0], block_shape[1]), zeros_per_block


def blocks_to_zero(sparsity_level: float, num_blocks: int) -> int:
    """The contract's count: ``round(level * n)`` (half to even), at most ``n - 1`` below level 1, all at 1."""
    if sparsity_level <= 0.0:
        return 0
    if sparsity_level >= 1.0:
        return num_blocks
    return min(num_blocks - 1, round(sparsity_level * num_blocks))


def _as_rows(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as 2-D (rows, everything else); a 1-D tensor is one row."""
    return tensor.reshape(tensor.shape[0], -1) if tensor.dim() > 1 else tensor.reshape(1, -1)


def _block_mask(scores: torch.Tensor, level: float, block: tuple[int, int], zeros_per_block: int) -> torch.Tensor:
    """Bool keep-mask of 2-D ``scores``: the ``zeros_per_block`` lowest elements of the lowest-mean blocks go.

    Blocks tile the tensor from its top-left corner; edge blocks are partial and their mean is over
    the elements they have (``F.avg_pool2d(ceil_mode=True)``). Ties are ``torch.topk``'s.
    """
    rows, cols = scores.shape
    means = F.avg_pool2d(scores[None, None], block, stride=block, ceil_mode=True).flatten()
    chosen = torch.zeros(means.numel(), dtype=torch.bool, device=scores.device)
    count = blocks_to_zero(level, means.numel())
    if count:
        chosen[torch.topk(means, count, largest=False).indices] = True
    padded = F.pad(scores, (0, -cols % block[1], 0, -rows % block[0]), value=float("inf"))
    grid = (padded.shape[0] // block[0], padded.shape[1] // block[1])
    elements = padded.reshape(grid[0], block[0], grid[1], block[1]).transpose(1, 2).reshape(-1, block[0] * block[1])
    drop = torch.zeros_like(elements, dtype=torch.bool)
    drop.scatter_(1, torch.topk(elements, zeros_per_block, dim=1, largest=False).indices, True)
    drop &= chosen[:, None]
    drop = drop.reshape(grid[0], grid[1], block[0], block[1]).transpose(1, 2).reshape(padded.shape)
    return ~drop[:rows, :cols]


class WeightNormSparsifier(BaseSparsifier):
    """Zeroes ``sparsity_level`` of the ``sparse_block_shape`` blocks with the lowest mean norm.

    Within each chosen block the ``zeros_per_block`` lowest-norm elements go (default: all).
    ``norm`` is 1, 2 (the default, also for None) or a callable applied element-wise. Masks are
    computed from the masked weight; which masks ``nn.utils.prune`` computes itself and which the
    adapter computes is in the module docstring.
    """

    def __init__(
        self,
        sparsity_level: float = 0.5,
        sparse_block_shape: tuple[int, int] = (1, 4),
        zeros_per_block: int | None = None,
        norm: int | NormFn | None = None,
    ) -> None:
        if zeros_per_block is None:
            zeros_per_block = sparse_block_shape[0] * sparse_block_shape[1]
        _check_block(sparse_block_shape, zeros_per_block)
        if norm is None:
            norm = 2
        if not callable(norm) and norm not in _BUILTIN_NORMS:
            raise ValueError(f"norm must be 1, 2, None or a callable, got {norm!r}")
        self.norm = norm
        self.norm_fn: NormFn = norm if callable(norm) else _BUILTIN_NORMS[norm]
        super().__init__(
            defaults={
                "sparsity_level": sparsity_level,
                "sparse_block_shape": sparse_block_shape,
                "zeros_per_block": zeros_per_block,
            }
        )

    def check_group(self, group: dict[str, Any]) -> None:
        super().check_group(group)
        _check_block(group["sparse_block_shape"], group["zeros_per_block"])
        _check_level(group["sparsity_level"])
        weight = getattr(group["module"], group["tensor_name"])
        if not weight.dtype.is_floating_point:
            raise ValueError(
                f"{group['tensor_fqn']!r} has dtype {weight.dtype}; only floating-point weights have norms"
            )

    def update_mask(  # type: ignore[override]
        self,
        module: nn.Module,
        tensor_name: str,
        sparsity_level: float,
        sparse_block_shape: tuple[int, int],
        zeros_per_block: int,
        **kwargs: Any,
    ) -> None:
        mask = mask_buffer(module, tensor_name)
        masked = pruning_hook(module, tensor_name).apply_mask(module)  # prune's own orig * mask
        level = min(1.0, max(0.0, float(sparsity_level)))
        block, zeros = _check_block(sparse_block_shape, zeros_per_block)
        if level == 0.0 or zeros == 0:
            mask.fill_(1)
        elif block == (1, 1) and not callable(self.norm):
            method = prune.L1Unstructured(amount=blocks_to_zero(level, masked.numel()))
            mask.copy_(method.compute_mask(masked, default_mask=torch.ones_like(mask)))
        else:
            scores = self.norm_fn(_as_rows(masked).float())
            mask.copy_(_block_mask(scores, level, block, zeros).reshape(mask.shape))


def _check_nearliness(nearliness: object, shape: torch.Size, tensor_fqn: str) -> int:
    """``nearliness`` <= 0 (an all-zeros mask) or odd with ``nearliness // 2`` below both sides of the 2-D weight."""
    if isinstance(nearliness, bool) or not isinstance(nearliness, int):
        raise ValueError(f"nearliness must be an int, got {nearliness!r}")
    if len(shape) != 2:
        raise ValueError(f"NearlyDiagonalSparsifier needs a 2-D weight; {tensor_fqn!r} has shape {tuple(shape)}")
    if nearliness > 0 and nearliness % 2 == 0:
        raise ValueError(f"nearliness must be odd (or <= 0), got {nearliness} for {tensor_fqn!r}")
    if nearliness > 0 and nearliness // 2 >= min(shape):
        raise ValueError(
            f"nearliness={nearliness} is too wide for {tensor_fqn!r} of shape {tuple(shape)}: "
            f"nearliness // 2 must be below {min(shape)}"
        )
    return nearliness


class NearlyDiagonalSparsifier(BaseSparsifier):
    """Keeps the band ``|row - col| <= nearliness // 2`` of a 2-D weight (nothing for ``nearliness <= 0``)."""

    def __init__(self, nearliness: int = 1) -> None:
        super().__init__(defaults={"nearliness": nearliness})

    def check_group(self, group: dict[str, Any]) -> None:
        super().check_group(group)
        weight = getattr(group["module"], group["tensor_name"])
        _check_nearliness(group["nearliness"], weight.shape, group["tensor_fqn"])

    def update_mask(  # type: ignore[override]
        self, module: nn.Module, tensor_name: str, nearliness: int, tensor_fqn: str = "", **kwargs: Any
    ) -> None:
        mask = mask_buffer(module, tensor_name)
        half_width = _check_nearliness(nearliness, mask.shape, tensor_fqn) // 2
        if nearliness <= 0:
            mask.zero_()
            return
        rows = torch.arange(mask.shape[0], device=mask.device)[:, None]
        cols = torch.arange(mask.shape[1], device=mask.device)[None, :]
        mask.copy_((rows - cols).abs() <= half_width)


__all__ = [
    "BaseSparsifier",
    "FakeSparsity",
    "NearlyDiagonalSparsifier",
    "WeightNormSparsifier",
    "blocks_to_zero",
    "mask_buffer",
    "pruning_hook",
]
