"""prune() knows only Linear and LSTM producers: a masked Conv2d is baked (filters zeroed) but never shrunk."""

from __future__ import annotations

from collections.abc import Mapping

from prunebench.reference_impl.structured import producers
from prunebench.reference_impl.structured.chains import Producer
from torch import nn
from torch.fx import Node
from torch.nn.utils.parametrize import type_before_parametrizations

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with

name = "broken-structured_conv_never_shrunk"


def _linear_and_lstm_only(name: str, module: nn.Module, node: Node, modules: Mapping) -> Producer | None:
    """BUG: the Conv2d case is missing, so a masked conv loses no filters (and nothing warns)."""
    if type_before_parametrizations(module) is nn.Conv2d:
        return None
    return producers.producer_for(name, module, node, modules)


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(producer_for=_linear_and_lstm_only)
