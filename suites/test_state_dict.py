"""``state_dict`` / ``load_state_dict``: what is saved, and that loading restores masks and groups."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from torch import nn

from .checks import assert_masks_equal, kept, mask_of
from .conftest import STEP_COUNT_FQN
from .models import SimpleLinear, build

pytestmark = pytest.mark.requires("BaseSparsifier")
STEPS = 3


def _stepped(row_zero_sparsifier: type, device: str, dtype: torch.dtype) -> tuple[nn.Module, Any]:
    """A sparsifier on linear1 with an irregular mask pattern, stepped ``STEPS`` times."""
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier(test=3)
    sparsifier.prepare(model, [{"tensor_fqn": STEP_COUNT_FQN}])
    mask = mask_of(model.linear1)
    pattern = torch.arange(mask.numel(), device=mask.device).reshape(mask.shape) % 3 != 0
    mask.copy_(pattern.to(mask.dtype))
    for _ in range(STEPS):
        sparsifier.step()
    return model, sparsifier


def _comparable(groups: list[dict]) -> list[dict]:
    return [{k: v for k, v in g.items() if not isinstance(v, nn.Module)} for g in groups]


def test_state_dict_keys(backend, device, dtype, row_zero_sparsifier):
    _, sparsifier = _stepped(row_zero_sparsifier, device, dtype)
    state_dict = sparsifier.state_dict()
    assert set(state_dict) >= {"state", "groups"}, f"state_dict keys are {sorted(state_dict)}"
    entry = state_dict["state"][STEP_COUNT_FQN]
    assert entry.get("step_count") == STEPS, f"saved step_count is {entry.get('step_count')}, expected {STEPS}"
    assert isinstance(entry.get("mask"), torch.Tensor), "the saved state has no mask tensor for linear1.weight"
    group = state_dict["groups"][0]
    assert group.get("tensor_fqn") == STEP_COUNT_FQN and group.get("test") == 3, f"saved group is {group}"
    live = [k for k, v in group.items() if isinstance(v, nn.Module)]
    assert not live, f"saved group holds live module references under {live}; they cannot be saved"


def test_round_trip_restores_masks_and_groups(backend, device, dtype, row_zero_sparsifier):
    model0, sparsifier0 = _stepped(row_zero_sparsifier, device, dtype)
    expected_mask = kept(mask_of(model0.linear1)).clone()
    state_dict = sparsifier0.state_dict()
    model1 = build(SimpleLinear, device, dtype)
    sparsifier1 = row_zero_sparsifier()
    sparsifier1.prepare(model1, None)
    assert not torch.equal(kept(mask_of(model1.linear1)), expected_mask), "masks agree before loading"
    sparsifier1.load_state_dict(state_dict)
    assert_masks_equal(mask_of(model1.linear1), expected_mask, "linear1.weight", "after load_state_dict")
    loaded, saved = _comparable(sparsifier1.groups), _comparable(sparsifier0.groups)
    assert loaded == saved, f"groups after loading {loaded} differ from the saved {saved}"
    assert sparsifier1.groups[0]["module"] is model1.linear1, "loaded group does not point at the new model's linear1"


def test_state_dict_survives_safe_torch_load(backend, device, dtype, row_zero_sparsifier):
    model0, sparsifier0 = _stepped(row_zero_sparsifier, device, dtype)
    buffer = io.BytesIO()
    torch.save(sparsifier0.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    model1 = build(SimpleLinear, device, dtype)
    sparsifier1 = row_zero_sparsifier()
    sparsifier1.prepare(model1, [{"tensor_fqn": STEP_COUNT_FQN}])
    sparsifier1.load_state_dict(loaded)
    assert_masks_equal(mask_of(model1.linear1), mask_of(model0.linear1), "linear1.weight", "after torch.load")


def test_load_leaves_the_saved_state_intact(backend, device, dtype, row_zero_sparsifier):
    _, sparsifier0 = _stepped(row_zero_sparsifier, device, dtype)
    state_dict = sparsifier0.state_dict()
    model1 = build(SimpleLinear, device, dtype)
    sparsifier1 = row_zero_sparsifier()
    sparsifier1.prepare(model1, None)
    sparsifier1.load_state_dict(state_dict)
    assert "mask" in state_dict["state"][STEP_COUNT_FQN], (
        "load_state_dict removed 'mask' from the state_dict it was given: the same state cannot be loaded twice"
    )
    assert "mask" in sparsifier1.state_dict()["state"][STEP_COUNT_FQN], "the reloaded sparsifier saves no mask"
