"""BaseSparsifier.prepare attaches a mask to every Linear of the model, not only to the configured tensors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from prunebench import reference_impl

from ._base import *  # noqa: F403 - re-export every reference name this bug leaves alone

name = "broken-prepare_parametrizes_all"


class BaseSparsifier(reference_impl.BaseSparsifier):
    def prepare(self, model: nn.Module, config: Sequence[Mapping[str, Any]] | None) -> None:
        super().prepare(model, config)
        configured = {group["module_fqn"] for group in self.groups}
        for fqn, module in model.named_modules():  # BUG: walks the whole model, not the config
            if type(module) in self.supported_modules and fqn not in configured:
                mask = torch.ones_like(module.weight)
                parametrize.register_parametrization(module, "weight", reference_impl.FakeSparsity(mask))
