"""Which LSTM hidden units ``prune()`` removes, and rewriting an ``nn.LSTM`` without them.

PyTorch packs four gates per hidden unit into ``weight_ih_l<k>``/``weight_hh_l<k>`` (rows
``[i | f | g | o]``, ``hidden_size`` each). A unit can only be removed as a whole, and only when
the masked model already ignores it: with a zero initial state its cell stays 0, and so does its
output, whenever its cell-input gate ``g`` is zero, i.e. when the g row is masked in both
weight_ih and weight_hh and the effective g biases sum to zero (``prune_bias=True`` masks them).
Units failing that test are kept, their masked rows staying as zeros, so the pruned LSTM computes
exactly what the masked one does even for per-gate masks like torch's LSTMSaliencyPruner writes.

With ``proj_size > 0`` the layer's output is the projection ``weight_hr_l<k> @ h``: a masked
projection row is an exact zero output and is removed as well. ``nn.LSTM`` has one
``hidden_size`` (and ``proj_size``) for all layers, so layers that lose fewer units than others keep
some removable ones (zero weights, zero output) to match; for the same reason, and because it
requires ``proj_size < hidden_size``, removable units are kept so that at least one more hidden unit
than projected outputs remains.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .masks import row_keep

GATES = 4


@dataclass(frozen=True)
class LstmUnits:
    """Kept indices per layer: ``hidden[k]`` of the hidden units, ``output[k]`` of the layer's outputs."""

    hidden: list[torch.Tensor]
    output: list[torch.Tensor]
    masked_but_kept: list[int]  # per layer: units with masked rows that cannot be removed exactly
    output_features: int  # the unpruned LSTM's output width (proj_size or hidden_size)

    def output_keep(self) -> torch.Tensor:
        """Bool vector over the LSTM's output features (last layer), True where kept."""
        keep = torch.zeros(self.output_features, dtype=torch.bool, device=self.output[-1].device)
        keep[self.output[-1]] = True
        return keep


def _rows_keep(lstm: nn.LSTM, name: str, rows: int, device: torch.device) -> torch.Tensor:
    keep = row_keep(lstm, name)
    return torch.ones(rows, dtype=torch.bool, device=device) if keep is None else keep


def _gate_bias(lstm: nn.LSTM, layer: int, hidden: int, device: torch.device) -> torch.Tensor:
    """Effective (masked-model) sum of the ih and hh biases of the g gate, per unit."""
    if not lstm.bias:
        return torch.zeros(hidden, device=device)
    g_rows = slice(2 * hidden, 3 * hidden)
    return getattr(lstm, f"bias_ih_l{layer}")[g_rows] + getattr(lstm, f"bias_hh_l{layer}")[g_rows]


def _padded(alive: torch.Tensor, size: int) -> torch.Tensor:
    """Indices of ``alive`` plus the first removable units, ``size`` in all, sorted."""
    dead = (~alive).nonzero().squeeze(1)
    extra = dead[: size - int(alive.sum())]
    return torch.cat([alive.nonzero().squeeze(1), extra]).sort().values


def lstm_units(lstm: nn.LSTM) -> LstmUnits:
    """Decide the kept hidden units and outputs of every layer (see the module docstring)."""
    hidden_size, proj = lstm.hidden_size, lstm.proj_size
    device = lstm.weight_hh_l0.device
    alive, out_alive, masked_but_kept = [], [], []
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            ih = _rows_keep(lstm, f"weight_ih_l{layer}", GATES * hidden_size, device).view(GATES, -1)
            hh = _rows_keep(lstm, f"weight_hh_l{layer}", GATES * hidden_size, device).view(GATES, -1)
            dead = ~ih[2] & ~hh[2] & (_gate_bias(lstm, layer, hidden_size, device) == 0)
            masked = ~(ih.all(0) & hh.all(0))
            alive.append(~dead)
            masked_but_kept.append(int((masked & ~dead).sum()))
            if proj:
                out_alive.append(_rows_keep(lstm, f"weight_hr_l{layer}", proj, device))
    hidden_kept = max(1, max(int(a.sum()) for a in alive))
    if proj:
        output_kept = max(1, max(int(a.sum()) for a in out_alive))
        output = [_padded(a, output_kept) for a in out_alive]
        hidden_kept = max(hidden_kept, output_kept + 1)  # nn.LSTM needs proj_size < hidden_size
    hidden = [_padded(a, hidden_kept) for a in alive]
    if not proj:
        output = hidden
    return LstmUnits(hidden, output, masked_but_kept, output_features=proj or hidden_size)


def _gate_rows(units: torch.Tensor, hidden_size: int) -> torch.Tensor:
    """Row indices of ``units`` in all four gates of a packed gate weight."""
    offsets = torch.arange(GATES, device=units.device)[:, None] * hidden_size
    return (offsets + units[None, :]).reshape(-1)


def _replace(lstm: nn.LSTM, name: str, tensor: torch.Tensor) -> None:
    old = getattr(lstm, name)
    setattr(lstm, name, nn.Parameter(tensor.contiguous(), requires_grad=old.requires_grad))


def rewrite_lstm(lstm: nn.LSTM, units: LstmUnits) -> None:
    """Remove the units ``units`` does not keep from every layer of ``lstm`` (plain, unmasked)."""
    hidden_size = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            rows = _gate_rows(units.hidden[layer], hidden_size)
            w_ih = getattr(lstm, f"weight_ih_l{layer}").index_select(0, rows)
            if layer > 0:
                w_ih = w_ih.index_select(1, units.output[layer - 1])
            _replace(lstm, f"weight_ih_l{layer}", w_ih)
            w_hh = getattr(lstm, f"weight_hh_l{layer}").index_select(0, rows)
            _replace(lstm, f"weight_hh_l{layer}", w_hh.index_select(1, units.output[layer]))
            if lstm.bias:
                for kind in ("ih", "hh"):
                    name = f"bias_{kind}_l{layer}"
                    _replace(lstm, name, getattr(lstm, name).index_select(0, rows))
            if lstm.proj_size:
                w_hr = getattr(lstm, f"weight_hr_l{layer}").index_select(0, units.output[layer])
                _replace(lstm, f"weight_hr_l{layer}", w_hr.index_select(1, units.hidden[layer]))
    lstm.hidden_size = len(units.hidden[0])
    if lstm.proj_size:
        lstm.proj_size = len(units.output[0])
