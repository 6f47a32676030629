"""``BaseSparsifier``: the lifecycle every sparsifier shares (prepare, step, state, squash, convert).

Subclasses implement one method, ``update_mask(module, tensor_name, **group)``, which writes the new
mask *in place* into ``module.parametrizations[tensor_name][0].mask``. Everything else — config
resolution, parametrization, persistence, squashing and module swapping — lives here.
"""

from __future__ import annotations

import abc
import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrize import type_before_parametrizations

from .config import build_groups, config_for_modules, saved_group
from .fake_sparsity import FakeSparsity, bake_mask
from .tensor_fqn import locate_tensor
from .validation import check_config_mask, check_floating, check_saved_state

SUPPORTED_MODULES: frozenset[type[nn.Module]] = frozenset({nn.Linear})
"""Module types that ``prepare(model, config=None)`` sparsifies."""


class TensorState(dict):
    """One tensor's entry in a sparsifier's ``state`` (``{"mask": ..., ...}``): a dict whose ``==``
    compares tensors by value.

    Two entries are equal when they have the same keys and equal values, a tensor being equal to a
    tensor of the same shape, dtype, device and values. So ``sparsifier0.state == sparsifier1.state``
    answers whether a loaded sparsifier holds the saved state, as torch's own tests ask it; with plain
    dicts it would raise (the truth value of an element-wise tensor comparison is ambiguous).
    """

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping) or self.keys() != other.keys():
            return False
        return all(_same_value(value, other[key]) for key, value in self.items())

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict


def _same_value(left: object, right: object) -> bool:
    if isinstance(left, torch.Tensor) or isinstance(right, torch.Tensor):
        return (
            isinstance(left, torch.Tensor)
            and isinstance(right, torch.Tensor)
            and (left.shape, left.dtype, left.device) == (right.shape, right.dtype, right.device)
            and bool(torch.equal(left, right))
        )
    return bool(left == right)


class BaseSparsifier(abc.ABC):
    """Base of all element-wise sparsifiers.

    ``defaults`` are per-tensor settings (``sparsity_level``, ...) that each config entry may
    override. ``groups`` holds one dict per sparsified tensor; ``state[tensor_fqn]["mask"]`` is the
    very mask tensor the parametrization applies, so it can be inspected or saved. Element-wise masks
    have the tensor's dtype and hold 0 and 1, as torch's do (``mask.mean()`` is the density). State
    entries are ``TensorState`` dicts, so two sparsifiers' states compare with ``==``.
    """

    supported_modules: frozenset[type[nn.Module]] = SUPPORTED_MODULES

    def __init__(self, defaults: Mapping[str, Any] | None = None) -> None:
        if defaults is not None and not isinstance(defaults, Mapping):
            raise TypeError(f"defaults must be a dict or None, got {type(defaults).__name__}")
        self.defaults: dict[str, Any] = dict(defaults or {})
        self.state: dict[str, dict[str, Any]] = defaultdict(TensorState)
        self.groups: list[dict[str, Any]] = []
        self.enable_mask_update = True
        self.model: nn.Module | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def prepare(self, model: nn.Module, config: Sequence[Mapping[str, Any]] | None) -> None:
        """Attach a mask parametrization to every configured tensor of ``model`` (in place).

        ``config=None`` sparsifies the weight of every supported module at any depth. The whole
        config is validated before the model is modified, and should registering a parametrization
        still fail, the ones already added are removed again: a failed ``prepare`` leaves the model
        (and this sparsifier) as they were.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"prepare expects an nn.Module, got {type(model).__name__}")
        if config is None:
            config = config_for_modules(model, self.supported_modules)
        groups = build_groups(model, self.defaults, config)
        for group in groups:
            self._check_tensor(group)
            self.validate_group(group)
        previous = (self.model, getattr(self, "config", None), self.groups)
        previous_state = {fqn: TensorState(entry) for fqn, entry in self.state.items()}
        snapshots = {id(group["module"]): (group["module"], self._snapshot(group["module"])) for group in groups}
        self.model, self.config, self.groups = model, config, groups
        try:
            self._prepare()
        except BaseException:
            for module, snapshot in snapshots.values():
                self._roll_back(module, snapshot)
            self.model, self.config, self.groups = previous
            self.state.clear()
            self.state.update(previous_state)
            raise

    def mask_shape(self, tensor: torch.Tensor) -> tuple[int, ...]:
        """The shape of the mask of ``tensor``: element-wise masks have the tensor's own shape."""
        return tuple(tensor.shape)

    def _check_tensor(self, group: Mapping[str, Any]) -> None:
        """What every sparsified tensor needs: a floating dtype, and a config mask of the mask shape."""
        tensor = getattr(group["module"], group["tensor_name"])
        check_floating(tensor, group["tensor_fqn"])
        if group.get("mask") is not None:
            check_config_mask(group["mask"], self.mask_shape(tensor), group["tensor_fqn"])

    def _snapshot(self, module: nn.Module) -> dict[str, int]:
        """How many parametrizations each tensor of ``module`` carries, to undo a failed ``prepare``."""
        if not parametrize.is_parametrized(module):
            return {}
        return {name: len(plist) for name, plist in module.parametrizations.items()}

    def _roll_back(self, module: nn.Module, snapshot: dict[str, int]) -> None:
        """Remove the parametrizations ``prepare`` added to ``module`` since ``snapshot``."""
        for name in list(getattr(module, "parametrizations", {})):
            keep = snapshot.get(name, 0)
            if keep == 0:
                parametrize.remove_parametrizations(module, name, leave_parametrized=False)
                continue
            plist = module.parametrizations[name]
            while len(plist) > keep:
                del plist[len(plist) - 1]

    def validate_group(self, group: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook, empty by design
        """Reject settings this sparsifier cannot honour; called at prepare time, before any change.

        Subclasses override this to check their own keys and raise an error that names the value.
        """

    def _prepare(self) -> None:
        """Register a mask parametrization on each group's tensor, initialised to keep everything.

        The initial mask is ones of the tensor's shape, dtype and device (a config's ``mask`` is used
        as given), as torch's ``ones_like(weight)``.
        """
        for group in self.groups:
            module, tensor_name = group["module"], group["tensor_name"]
            tensor = getattr(module, tensor_name)
            mask = group.get("mask")
            if mask is None:
                mask = _ones_mask(tensor)
            parametrization = group.get("parametrization", FakeSparsity)
            # Our FakeSparsity keeps the tensor's shape and dtype by construction (its mask's shape was
            # checked): torch's consistency check would only evaluate it once more, a full masked copy.
            unsafe = parametrization is FakeSparsity
            parametrize.register_parametrization(module, tensor_name, parametrization(mask), unsafe=unsafe)
            self.state[group["tensor_fqn"]]["mask"] = _attached_mask(module, tensor_name)

    def step(self, use_path: bool = True) -> None:
        """Recompute every mask, unless ``enable_mask_update`` is False (then masks are frozen).

        Masks are computed from weight values, so a model on the meta device (which ``prepare``
        accepts) is a ``ValueError`` here.
        """
        if not self.enable_mask_update:
            return
        on_meta = [group["tensor_fqn"] for group in self.groups if _on_meta(group["module"], group["tensor_name"])]
        if on_meta:
            raise ValueError(
                f"step() computes masks from weight values, but {on_meta} are on the meta device, which holds "
                "none; prepare works on meta, step needs real tensors (model.to_empty(device=...), then load weights)"
            )
        with torch.no_grad():
            for group in self.groups:
                self.update_mask(**group)

    @abc.abstractmethod
    def update_mask(self, module: nn.Module, tensor_name: str, **kwargs: Any) -> None:
        """Write the new mask of ``module.<tensor_name>`` in place."""

    # -- persistence -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {tensor_fqn: {"mask": ...}}, "groups": [...]}`` without live-model references."""
        return {
            "state": {fqn: dict(entry) for fqn, entry in self.state.items()},
            "groups": [saved_group(group) for group in self.groups],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Restore masks and groups into the model given to ``prepare``; ``state_dict`` is not mutated.

        Each saved mask is copied into the tensor's mask buffer (never shared with ``state_dict``),
        values and dtype as saved (``_restore_mask``), so ``self.state`` then equals the saved state.

        The whole state is checked against the prepared model first: saved groups naming tensors the
        model lacks (with ``strict=True``; ``strict=False`` skips them), saved masks of another shape
        and settings this sparsifier rejects are errors naming every offending ``tensor_fqn``, raised
        before any mask changes.
        """
        if self.model is None:
            raise RuntimeError("load_state_dict needs the model: call prepare(model, config) first")
        saved_state, saved_groups = check_saved_state(state_dict)
        groups = self._locate_saved_groups(saved_groups, strict)
        self._check_saved_masks(groups, saved_state)
        state: dict[str, dict[str, Any]] = defaultdict(TensorState)
        for group in groups:
            entry = dict(saved_state.get(group["tensor_fqn"], {}))
            mask = self._restore_mask(group, entry.pop("mask", None))
            state[group["tensor_fqn"]] = TensorState({"mask": mask, **copy.deepcopy(entry)})
        self.groups, self.state = groups, state

    def _locate_saved_groups(self, saved_groups: Sequence[Mapping[str, Any]], strict: bool) -> list[dict[str, Any]]:
        """The saved groups with their live-model keys, validated; every name the model lacks is listed."""
        groups, missing = [], []
        for saved in copy.deepcopy(list(saved_groups)):
            try:
                location = locate_tensor(self.model, saved["tensor_fqn"])
            except ValueError:
                missing.append(saved["tensor_fqn"])
                continue
            saved.update(location.as_group_keys())
            groups.append(saved)
        if missing and strict:
            prepared = [group["tensor_fqn"] for group in self.groups]
            raise ValueError(
                f"state_dict names tensors the prepared model lacks: {missing} (the model was prepared with "
                f"{prepared}); is the state from another model? load_state_dict(..., strict=False) skips them"
            )
        for group in groups:
            self._check_tensor(group)
            try:
                self.validate_group(group)
            except KeyError as error:
                raise ValueError(
                    f"saved group for {group['tensor_fqn']!r} has no setting {error.args[0]!r}, which "
                    f"{type(self).__name__} needs: is the state from another sparsifier?"
                ) from None
        return groups

    def _check_saved_masks(self, groups: Sequence[Mapping[str, Any]], saved_state: Mapping[str, Any]) -> None:
        """Every saved mask must have the mask shape of the tensor it is loaded into."""
        wrong = []
        for group in groups:
            mask = saved_state.get(group["tensor_fqn"], {}).get("mask")
            expected = self.mask_shape(getattr(group["module"], group["tensor_name"]))
            if mask is not None and tuple(mask.shape) != expected:
                wrong.append(
                    f"{group['tensor_fqn']!r} has saved mask shape {tuple(mask.shape)}, the model's is {expected}"
                )
        if wrong:
            raise ValueError(
                f"saved masks do not fit the prepared model: {'; '.join(wrong)}; is the state from another model?"
            )

    def _restore_mask(self, group: Mapping[str, Any], saved_mask: torch.Tensor | None) -> torch.Tensor:
        """Copy ``saved_mask`` into the tensor's mask parametrization, attaching one if needed.

        The mask buffer stays the same tensor object (references to it stay valid) on its own device
        and takes the saved values. A bool mask (a structured pruner's row mask) stays bool, keeping
        what is non-zero; any other takes the saved dtype too, as torch keeps the saved tensor itself.
        """
        module, tensor_name = group["module"], group["tensor_name"]
        tensor = getattr(module, tensor_name)
        if _find_mask_parametrization(module, tensor_name) is None:
            parametrize.register_parametrization(module, tensor_name, FakeSparsity(_ones_mask(tensor)))
        mask = _attached_mask(module, tensor_name)
        if saved_mask is not None:
            if tuple(saved_mask.shape) != tuple(mask.shape):
                raise ValueError(
                    f"saved mask for {group['tensor_fqn']!r} has shape {tuple(saved_mask.shape)}, "
                    f"but that tensor has shape {tuple(mask.shape)}: is the state from another model?"
                )
            if mask.dtype == torch.bool:
                mask.copy_(saved_mask != 0)
            elif mask.dtype == saved_mask.dtype:
                mask.copy_(saved_mask)
            else:
                mask.data = saved_mask.to(device=mask.device, copy=True)
        return mask

    # -- finishing ---------------------------------------------------------------------------

    def squash_mask(
        self,
        params_to_keep: Sequence[str] | None = None,
        params_to_keep_per_layer: Mapping[str, Sequence[str]] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Bake each mask into its tensor and remove the parametrization.

        ``params_to_keep`` names group keys to keep on every module as ``module.sparse_params``;
        ``params_to_keep_per_layer`` maps a module fqn to further keys for that module only.
        """
        for group in self.groups:
            module, tensor_name = group["module"], group["tensor_name"]
            kept = _pick_params(group, params_to_keep or ())
            kept.update(_pick_params(group, (params_to_keep_per_layer or {}).get(group["module_fqn"], ())))
            if parametrize.is_parametrized(module, tensor_name):
                bake_mask(module, tensor_name)
            if kept:
                module.sparse_params = kept

    def convert(
        self,
        module: nn.Module,
        mapping: Mapping[type[nn.Module], type[nn.Module]] | None = None,
        inplace: bool = False,
        parameterization: type[nn.Module] = FakeSparsity,
    ) -> nn.Module:
        """Swap every sparsified submodule whose type is in ``mapping`` for ``mapping[type].from_dense``.

        Submodules without a ``parameterization`` are left exactly as they are, of their own type.
        """
        if mapping is None:
            raise NotImplementedError(
                "convert needs an explicit mapping such as {nn.Linear: MySparseLinear}; no default mapping is generated"
            )
        if not inplace:
            module = copy.deepcopy(module)
        for name, child in list(module.named_children()):
            if _carries(child, parameterization) and type_before_parametrizations(child) in mapping:
                module._modules[name] = _swap(child, mapping[type_before_parametrizations(child)])
            else:
                self.convert(child, mapping, inplace=True, parameterization=parameterization)
        return module

    # -- pickling and display ------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "groups": self.groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.groups):
            lines.append(f"\tGroup {index}")
            lines.append(f"\t    module: {group['module']}")
            lines += [f"\t    {key}: {group[key]}" for key in sorted(group) if key != "module"]
        lines.append(")")
        return "\n".join(lines)


def _find_mask_parametrization(module: nn.Module, tensor_name: str) -> nn.Module | None:
    """The first parametrization of ``module.<tensor_name>`` that carries a ``mask`` buffer."""
    if not parametrize.is_parametrized(module, tensor_name):
        return None
    for parametrization in module.parametrizations[tensor_name]:
        if isinstance(getattr(parametrization, "mask", None), torch.Tensor):
            return parametrization
    return None


def _on_meta(module: nn.Module, tensor_name: str) -> bool:
    """Whether ``module.<tensor_name>`` (its unmasked original, if parametrized) is a meta tensor."""
    if parametrize.is_parametrized(module, tensor_name):
        return any(t.is_meta for t in module.parametrizations[tensor_name].parameters(recurse=False))
    return getattr(module, tensor_name).is_meta


def _ones_mask(tensor: torch.Tensor) -> torch.Tensor:
    """A keep-everything element-wise mask for ``tensor``: ones of its shape, dtype and device."""
    return torch.ones(tensor.shape, dtype=tensor.dtype, device=tensor.device)


def _attached_mask(module: nn.Module, tensor_name: str) -> torch.Tensor:
    parametrization = _find_mask_parametrization(module, tensor_name)
    if parametrization is None:
        raise RuntimeError(f"{type(module).__name__}.{tensor_name} carries no mask parametrization")
    return parametrization.mask


def _pick_params(group: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The named group entries; a key the group does not have is an error naming it."""
    missing = [key for key in keys if key not in group]
    if missing:
        raise ValueError(
            f"cannot keep {missing} for {group['tensor_fqn']!r}: its group has only "
            f"{sorted(k for k in group if k != 'module')}"
        )
    return {key: group[key] for key in keys}


def _carries(module: nn.Module, parametrization_type: type[nn.Module]) -> bool:
    if not parametrize.is_parametrized(module):
        return False
    return any(isinstance(p, parametrization_type) for plist in module.parametrizations.values() for p in plist)


def _swap(module: nn.Module, target: type[nn.Module]) -> nn.Module:
    """``target.from_dense(module)``, keeping the module's forward hooks and its device."""
    replacement = target.from_dense(module)
    for hook in module._forward_pre_hooks.values():
        replacement.register_forward_pre_hook(hook)
    for hook in module._forward_hooks.values():
        replacement.register_forward_hook(hook)
    devices = {t.device for t in [*module.parameters(), *module.buffers()]}
    if len(devices) > 1:
        raise ValueError(f"cannot convert a module spread over several devices: {sorted(map(str, devices))}")
    if devices:
        replacement.to(next(iter(devices)))
    return replacement
