"""BaseStructuredSparsifier never masks LSTM biases (as torch), so masked units stay alive and prune() keeps them."""

from __future__ import annotations

from prunebench.reference_impl.structured import bias
from torch import nn
from torch.nn.utils.parametrize import type_before_parametrizations

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import with_globals

name = "broken-structured_lstm_bias_unmasked"


def _attach_without_lstm_bias(module: nn.Module, tensor_name: str, prune_bias: bool) -> None:
    """BUG: LSTM biases get no TiedBiasMask, whatever prune_bias says."""
    if type_before_parametrizations(module) is not nn.LSTM:
        bias.attach_bias_handling(module, tensor_name, prune_bias)


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    _prepare = with_globals(
        reference_impl.BaseStructuredSparsifier._prepare, attach_bias_handling=_attach_without_lstm_bias
    )
