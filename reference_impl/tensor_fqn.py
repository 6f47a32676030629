"""Resolving ``tensor_fqn`` strings ("encoder.0.weight") to the module and tensor they name."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn.utils import parametrize


@dataclass(frozen=True)
class TensorLocation:
    """Where a configured tensor lives: its owning module, that module's fqn and the tensor's name."""

    module: nn.Module
    module_fqn: str
    tensor_name: str
    tensor_fqn: str

    def as_group_keys(self) -> dict[str, object]:
        """The keys a sparsifier group carries about its tensor's location."""
        return {
            "module": self.module,
            "module_fqn": self.module_fqn,
            "tensor_name": self.tensor_name,
            "tensor_fqn": self.tensor_fqn,
        }


def split_tensor_fqn(tensor_fqn: str) -> tuple[str, str]:
    """Split ``"a.b.weight"`` into ``("a.b", "weight")``; a bare ``"weight"`` belongs to the root."""
    module_fqn, _, tensor_name = tensor_fqn.rpartition(".")
    return module_fqn, tensor_name


def parameter_of(module: nn.Module, tensor_name: str) -> nn.Parameter | None:
    """The parameter ``module.<tensor_name>`` (its unmasked original when parametrized), or None.

    None for a buffer, a plain attribute and a registered-but-None slot (``Linear(bias=False).bias``).
    """
    if parametrize.is_parametrized(module, tensor_name):
        original = getattr(module.parametrizations[tensor_name], "original", None)  # None: several originals
        return original if isinstance(original, nn.Parameter) else None
    return module._parameters.get(tensor_name)


def locate_tensor(model: nn.Module, tensor_fqn: object) -> TensorLocation:
    """Find the parameter named by ``tensor_fqn`` in ``model`` or raise an error that names it.

    Only parameters can be sparsified: a buffer (``bn.running_mean``) is rejected like a missing name.
    """
    if not isinstance(tensor_fqn, str) or not tensor_fqn:
        raise TypeError(f"tensor_fqn must be a non-empty string such as 'linear1.weight', got {tensor_fqn!r}")
    module_fqn, tensor_name = split_tensor_fqn(tensor_fqn.lstrip("."))
    try:
        module = model.get_submodule(module_fqn)
    except AttributeError:
        raise ValueError(
            f"tensor_fqn {tensor_fqn!r} does not exist in the model: it has no submodule {module_fqn!r}"
        ) from None
    if parameter_of(module, tensor_name) is None:
        owned = sorted(name for name, _ in module.named_parameters(recurse=False))
        what = "a buffer, not a parameter" if tensor_name in module._buffers else f"no parameter {tensor_name!r}"
        raise ValueError(
            f"tensor_fqn {tensor_fqn!r} does not name a parameter of the model: module "
            f"{module_fqn or '<root>'!r} ({type(module).__name__}) has {what}; its parameters are {owned}"
        )
    return TensorLocation(module, module_fqn, tensor_name, tensor_fqn)
