"""The built-in structured pruners: which rows Saliency, LSTM saliency and FPGM choose to remove."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from .checks import kept, mask_of


def _conv_with_filters(values: list[float], device: str) -> nn.Conv2d:
    """A conv whose filter ``i`` is filled with ``values[i]``."""
    conv = nn.Conv2d(2, len(values), kernel_size=3, bias=False).to(device)
    with torch.no_grad():
        for index, value in enumerate(values):
            conv.weight[index].fill_(value)
    return conv


@pytest.mark.requires("SaliencyPruner")
@pytest.mark.parametrize("layer", ["linear", "conv2d"])
def test_saliency_prunes_lowest_l1_rows(backend, device, layer):
    row_scale = torch.tensor([3.0, -0.5, 2.0, 0.1, -4.0, 1.0])
    if layer == "linear":
        module = nn.Linear(5, 6, bias=False).to(device)
        with torch.no_grad():
            module.weight.copy_(row_scale[:, None].expand(6, 5))
    else:
        module = _conv_with_filters(row_scale.tolist(), device)
    model = nn.Sequential(module)
    pruner = backend.get("SaliencyPruner")({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": "0.weight"}])
    pruner.step()
    actual = kept(mask_of(model[0])).cpu().tolist()
    expected = [True, False, True, False, True, False]  # |scale| 0.5, 0.1 and 1.0 are the three lowest
    assert actual == expected, f"saliency kept {actual} for row L1 scales {row_scale.tolist()}, expected {expected}"


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
def test_fpgm_distances(backend, device, dist):
    conv = _conv_with_filters([1.0, 2.0, 4.0], device)
    pruner = backend.get("FPGMPruner")(sparsity_level=1 / 3, dist=dist)
    distance = pruner._compute_distance(conv.weight.detach()).cpu()
    elements = conv.weight[0].numel()
    scale = elements if dist == 1 else elements**0.5  # per unit of value difference between two filters
    expected = torch.tensor([1.0 + 3.0, 1.0 + 2.0, 3.0 + 2.0]) * scale
    torch.testing.assert_close(distance, expected, msg=lambda m: f"FPGM summed distances (dist={dist}): {m}")


@pytest.mark.requires("FPGMPruner")
@pytest.mark.parametrize("layers", [1, 2], ids=["one_layer", "two_layers"])
def test_fpgm_prunes_geometric_median_not_smallest(backend, device, layers):
    # Filter 1 (value 2) is nearest to all others; filter 0 (value 1) has the smallest norm.
    model = nn.Sequential(*[_conv_with_filters([1.0, 2.0, 4.0], device) for _ in range(layers)])
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
def test_fpgm_callable_distance(backend, device):
    conv = _conv_with_filters([1.0, 2.0, 4.0], device)

    def negated_l2(x: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(x, x, p=2)

    pruner = backend.get("FPGMPruner")(sparsity_level=1 / 3, dist=negated_l2)
    pruner.prepare(nn.Sequential(conv), [{"tensor_fqn": "0.weight"}])
    pruner.step()
    assert kept(mask_of(conv)).cpu().tolist() == [True, False, True], "the callable distance was not used"
