"""prune() folds a masked channel's bias into the next conv's bias even when that conv zero-pads (borders differ)."""

from __future__ import annotations

from prunebench.reference_impl.structured import planning
from torch import nn

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with, with_globals

name = "broken-structured_fold_into_padded_conv"


def _never_pads(conv: nn.Conv2d) -> bool:
    """BUG: padding is ignored, as if a constant input map stayed constant after a padded convolution."""
    return False


_first_action = with_globals(planning._first_action, _can_fold=with_globals(planning._can_fold, zero_pads=_never_pads))
_plan = with_globals(planning.plan, _actions=with_globals(planning._actions, _first_action=_first_action))


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(plan=_plan)
