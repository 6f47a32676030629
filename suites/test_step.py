"""``step``: masks are recomputed through ``update_mask``, unless ``enable_mask_update`` is False."""

from __future__ import annotations

import pytest
import torch

from .checks import kept, mask_of
from .conftest import STEP_COUNT_FQN
from .models import SimpleLinear, build

pytestmark = pytest.mark.requires("BaseSparsifier")


def test_step_applies_update_mask(backend, device, dtype, row_zero_sparsifier):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier()
    sparsifier.prepare(model, [{"tensor_fqn": "linear1.weight"}])
    sparsifier.step()
    mask = kept(mask_of(model.linear1))
    assert not mask[0].any(), f"row 0 of linear1's mask is {mask[0].tolist()} after a step that zeroes it"
    assert mask[1:].all(), "step zeroed mask entries outside row 0"
    weight = model.linear1.weight
    assert torch.count_nonzero(weight[0]) == 0, f"parametrized weight row 0 is {weight[0].tolist()}, expected zeros"
    assert weight.dtype == dtype, f"parametrized weight has dtype {weight.dtype}, expected {dtype}"


def test_disabled_mask_update_freezes_masks(backend, device, dtype, row_zero_sparsifier):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier()
    sparsifier.prepare(model, [{"tensor_fqn": "linear1.weight"}])
    sparsifier.enable_mask_update = False
    sparsifier.step()
    assert kept(mask_of(model.linear1)).all(), "step changed a mask although enable_mask_update is False"
    assert sparsifier.state[STEP_COUNT_FQN].get("step_count", 0) == 0, "update_mask ran with enable_mask_update=False"
    sparsifier.enable_mask_update = True
    sparsifier.step()
    assert not kept(mask_of(model.linear1))[0].any(), "step did nothing after enable_mask_update was set back to True"


def test_each_step_calls_update_mask_once_per_group(backend, device, dtype, row_zero_sparsifier):
    model = build(SimpleLinear, device, dtype)
    sparsifier = row_zero_sparsifier()
    sparsifier.prepare(model, [{"tensor_fqn": STEP_COUNT_FQN}])
    for _ in range(3):
        sparsifier.step()
    count = sparsifier.state[STEP_COUNT_FQN].get("step_count")
    assert count == 3, f"state[{STEP_COUNT_FQN!r}]['step_count'] is {count} after 3 steps, expected 3"


@pytest.mark.requires("WeightNormSparsifier")
def test_step_does_not_track_gradients(backend, device, dtype):
    model = build(SimpleLinear, device, dtype)
    sparsifier = backend.get("WeightNormSparsifier")(sparsity_level=0.5)
    sparsifier.prepare(model, config=None)
    sparsifier.step()
    assert sparsifier.groups, "prepare(model, None) configured no tensor: no mask could be checked"
    for group in sparsifier.groups:
        mask = mask_of(group["module"])
        assert not mask.requires_grad, f"mask of {group['tensor_fqn']!r} requires grad after step"
