"""BaseSparsifier multiplies by float32 masks (registered with unsafe=True), promoting fp16/bf16 weights to float32."""

from __future__ import annotations

import torch
from torch.nn.utils import parametrize

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-float_mask_promotes"


class _MultiplyingSparsity(reference_impl.FakeSparsity):
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return self.mask * weight  # float32 * float16 is float32


class BaseSparsifier(reference_impl.BaseSparsifier):
    def _prepare(self) -> None:
        for group in self.groups:
            module, tensor_name = group["module"], group["tensor_name"]
            tensor = getattr(module, tensor_name)
            mask = torch.ones(tensor.shape, device=tensor.device)  # BUG: default float32, not tensor.dtype
            # unsafe=True silences torch's "may not change the dtype" error instead of fixing the mask
            parametrize.register_parametrization(module, tensor_name, _MultiplyingSparsity(mask), unsafe=True)
            self.state[group["tensor_fqn"]]["mask"] = module.parametrizations[tensor_name][0].mask
