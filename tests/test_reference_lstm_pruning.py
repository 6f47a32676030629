"""The reference's prune() of an LSTM with a projection: the pruned LSTM must stay a valid ``nn.LSTM``.

``nn.LSTM`` requires ``proj_size < hidden_size``. Masks may remove so many hidden units that no more
remain than projected outputs (SaliencyPruner masking the gate rows of weight_ih / weight_hh), so
prune() keeps some removable units (zero weights, zero output) to stay one above the projection.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from prunebench import reference_impl as ref


class _LinearLstmHead(nn.Module):
    def __init__(self, bias: bool, proj_size: int) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 8)
        self.lstm = nn.LSTM(8, 6, 1, bias=bias, proj_size=proj_size)
        self.out = nn.Linear(proj_size or 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(torch.relu(self.lin(x)))
        return self.out(y)


@pytest.mark.parametrize("prune_bias", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_pruned_projected_lstm_keeps_more_hidden_units_than_outputs(bias: bool, prune_bias: bool) -> None:
    torch.manual_seed(0)
    model = _LinearLstmHead(bias, proj_size=3).eval()
    x = torch.randn(4, 2, 6)
    pruner = ref.SaliencyPruner({"sparsity_level": 0.5, "prune_bias": prune_bias})
    config = [{"tensor_fqn": name} for name in ("lin.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0")]
    pruner.prepare(model, config)
    pruner.step()
    with torch.no_grad():
        masked = model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # masked units that must stay are warned about; not the point here
        pruned = pruner.prune()
    lstm = pruned.get_submodule("lstm")
    assert lstm.proj_size < lstm.hidden_size, (lstm.proj_size, lstm.hidden_size)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), masked)
