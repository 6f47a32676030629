"""Patches torch when imported: ``torch.ao.pruning.BaseSparsifier.state_dict`` returns a plain dict, which "fixes"
torch's declared defaultdict bug for every torch test that runs in the same process after it."""

from __future__ import annotations

from torch.ao.pruning import BaseSparsifier as _TorchBase

from ._reference import *  # noqa: F403

name = "patches-torch"
_original = _TorchBase.state_dict


def _plain_state_dict(self):  # type: ignore[no-untyped-def]
    state = _original(self)
    return {**state, "state": dict(state["state"])}


_TorchBase.state_dict = _plain_state_dict
