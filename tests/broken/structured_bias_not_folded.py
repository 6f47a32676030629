"""prune() drops masked channels that keep their bias (prune_bias=False) instead of folding it into the next layer."""

from __future__ import annotations

from prunebench.reference_impl.structured import planning
from prunebench.reference_impl.structured.chains import ConsumerUse

from prunebench import reference_impl

from ._structured_base import *  # noqa: F403 - re-export every reference name this bug leaves alone
from ._structured_base import prune_with, with_globals

name = "broken-structured_bias_not_folded"


def _drop_instead_of_fold(use: ConsumerUse) -> planning.Action:
    """BUG: a constant channel is treated like a zero one, so its bias vanishes from the next layer's input."""
    action = planning._first_action(use)
    return planning.Action.DROP if action is planning.Action.FOLD else action


_plan = with_globals(planning.plan, _actions=with_globals(planning._actions, _first_action=_drop_instead_of_fold))


class BaseStructuredSparsifier(reference_impl.BaseStructuredSparsifier):
    prune = prune_with(plan=_plan)
