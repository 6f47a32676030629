"""The built-in structured pruners: which rows Saliency, LSTM saliency and FPGM choose to remove."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from .checks import assert_close, kept, mask_of


def _conv_with_filters(values: list[float], device: str, dtype: torch.dtype) -> nn.Conv2d:
    """A conv whose filter ``i`` is filled with ``values[i]`` (exact in every dtype of the matrix)."""
    conv = nn.Conv2d(2, len(values), kernel_size=3, bias=False).to(device=device, dtype=dtype)
    with torch.no_grad():
        for index, value in enumerate(values):
            conv.weight[index].fill_(value)
    return conv


# Rows of many small entries (0, 2, 3) against rows of one large entry (1, 4, 5): L1 norms 5, 4, 6, 2.5, 5.5,
# 3.5 drop rows 3, 5, 1 at level 0.5, where every other plausible ranking drops another set.
SALIENCY_ROWS = [
    [1.0, -1.0, 1.0, -1.0, 1.0],
    [4.0, 0.0, 0.0, 0.0, 0.0],
    [1.2, -1.2, 1.2, 1.2, -1.2],
    [0.5, 0.5, -0.5, 0.5, 0.5],
    [0.0, 0.0, 5.5, 0.0, 0.0],
    [0.0, -3.5, 0.0, 0.0, 0.0],
]
SALIENCY_KEPT = [True, False, True, False, True, False]
OTHER_RANKINGS = {
    "the L2 norm (or the largest entry)": [False, True, False, False, True, True],  # L2: 2.24, 4, 2.68, 1.12, 5.5, 3.5
    "the signed sum": [False, True, False, True, True, False],  # sums: 1, 4, 1.2, 1.5, 5.5, -3.5
    "the L1 norm, highest first": [False, True, False, True, False, True],
}
"""What a level of 0.5 keeps of ``SALIENCY_ROWS`` when rows are ranked by something else than the lowest L1 norm."""


def _layer_with_rows(layer: str, rows: list[list[float]], device: str) -> nn.Module:
    """A bias-free Linear or Conv2d whose output row (filter) ``i`` starts with ``rows[i]``, zeros after it."""
    if layer == "linear":
        module = nn.Linear(len(rows[0]), len(rows), bias=False)
    else:
        module = nn.Conv2d(2, len(rows), kernel_size=3, bias=False)
    with torch.no_grad():
        flat = module.weight.view(len(rows), -1)
        flat.zero_()
        flat[:, : len(rows[0])] = torch.tensor(rows)
    return module.to(device)


@pytest.mark.requires("SaliencyPruner")
@pytest.mark.parametrize("layer", ["linear", "conv2d"])
def test_saliency_prunes_lowest_l1_rows(backend, device, layer):
    model = nn.Sequential(_layer_with_rows(layer, SALIENCY_ROWS, device))
    pruner = backend.get("SaliencyPruner")({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": "0.weight"}])
    pruner.step()
    actual = kept(mask_of(model[0])).cpu().tolist()
    other = next((f": those are the rows kept by {name}" for name, k in OTHER_RANKINGS.items() if k == actual), "")
    assert actual == SALIENCY_KEPT, (
        f"saliency kept {actual} for rows {SALIENCY_ROWS}, expected {SALIENCY_KEPT} (the 3 lowest L1 norms go){other}"
    )


def _lstm_with_unit_saliency(device: str, hidden: int = 6) -> nn.LSTM:
    """An LSTM whose unit ``u`` has weight magnitude ``u + 1`` in every gate of ih and hh."""
    lstm = nn.LSTM(4, hidden, 1).to(device)
    unit_scale = torch.arange(1, hidden + 1, dtype=torch.float32).repeat(4)[:, None]
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(unit_scale.expand(4 * hidden, 4))
        lstm.weight_hh_l0.copy_(unit_scale.expand(4 * hidden, hidden))
    return lstm


@pytest.mark.requires("LSTMSaliencyPruner")
def test_lstm_saliency_prunes_lowest_units_in_every_gate(backend, device):
    hidden = 6
    model = nn.Sequential(_lstm_with_unit_saliency(device, hidden))
    pruner = backend.get("LSTMSaliencyPruner")({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": "0.weight_ih_l0"}, {"tensor_fqn": "0.weight_hh_l0"}])
    pruner.step()
    expected = [False] * 3 + [True] * 3
    for tensor_name in ("weight_ih_l0", "weight_hh_l0"):
        mask = kept(mask_of(model[0], tensor_name)).cpu().reshape(4, hidden)
        for gate, gate_mask in zip("ifgo", mask, strict=True):
            assert gate_mask.tolist() == expected, (
                f"{tensor_name} gate {gate}: kept units {gate_mask.tolist()}, expected the 3 lowest-saliency units gone"
            )


@pytest.mark.requires("LSTMSaliencyPruner")
def test_lstm_saliency_keeps_the_same_units_across_gates(backend, device):
    hidden = 8
    model = nn.Sequential(nn.LSTM(4, hidden, 1).to(device))
    pruner = backend.get("LSTMSaliencyPruner")({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": "0.weight_ih_l0"}, {"tensor_fqn": "0.weight_hh_l0"}])
    pruner.step()
    gates = [kept(mask_of(model[0], name)).cpu().reshape(4, hidden) for name in ("weight_ih_l0", "weight_hh_l0")]
    first = gates[0][0]
    for tensor_name, mask in zip(("weight_ih_l0", "weight_hh_l0"), gates, strict=True):
        for gate, gate_mask in zip("ifgo", mask, strict=True):
            assert torch.equal(gate_mask, first), (
                f"{tensor_name} gate {gate} keeps units {gate_mask.nonzero().flatten().tolist()}, but gate i of "
                f"weight_ih_l0 keeps {first.nonzero().flatten().tolist()}: misaligned gates cannot be pruned exactly"
            )


@pytest.mark.requires("FPGMPruner")
@pytest.mark.parametrize("dist", [1, 2], ids=["l1", "l2"])
def test_fpgm_distances(backend, device, dtype, dist):
    conv = _conv_with_filters([1.0, 2.0, 4.0], device, dtype)
    pruner = backend.get("FPGMPruner")(sparsity_level=1 / 3, dist=dist)
    distance = pruner._compute_distance(conv.weight.detach()).cpu()
    elements = conv.weight[0].numel()
    scale = elements if dist == 1 else elements**0.5  # per unit of value difference between two filters
    expected = torch.tensor([1.0 + 3.0, 1.0 + 2.0, 3.0 + 2.0]) * scale
    # the distances may come in float32 or in the weight's dtype: compared at the weight dtype's tolerance
    assert_close(distance.to(dtype), expected.to(dtype), f"FPGM summed distances (dist={dist})")


@pytest.mark.requires("FPGMPruner")
@pytest.mark.parametrize("layers", [1, 2], ids=["one_layer", "two_layers"])
def test_fpgm_prunes_geometric_median_not_smallest(backend, device, dtype, layers):
    # Filter 1 (value 2) is nearest to all others; filter 0 (value 1) has the smallest norm.
    model = nn.Sequential(*[_conv_with_filters([1.0, 2.0, 4.0], device, dtype) for _ in range(layers)])
    pruner = backend.get("FPGMPruner")(sparsity_level=1 / 3)
    pruner.prepare(model, [{"tensor_fqn": f"{index}.weight"} for index in range(layers)])
    pruner.step()
    for index in range(layers):
        actual = kept(mask_of(model[index])).cpu().tolist()
        assert actual == [True, False, True], (
            f"FPGM on layer {index} kept {actual}; expected filter 1 (the geometric median) pruned, "
            "not filter 0 (the smallest norm)"
        )


@pytest.mark.requires("FPGMPruner")
def test_fpgm_callable_distance(backend, device, dtype):
    conv = _conv_with_filters([1.0, 2.0, 4.0], device, dtype)

    def negated_l2(x: torch.Tensor) -> torch.Tensor:
        x = x.float()  # torch.cdist has no float16/bfloat16 CPU kernel
        return -torch.cdist(x, x, p=2)

    pruner = backend.get("FPGMPruner")(sparsity_level=1 / 3, dist=negated_l2)
    pruner.prepare(nn.Sequential(conv), [{"tensor_fqn": "0.weight"}])
    pruner.step()
    assert kept(mask_of(conv)).cpu().tolist() == [True, False, True], "the callable distance was not used"
