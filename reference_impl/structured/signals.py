"""What the masked-out channels of a layer still carry as they flow towards the next layer.

A masked row does not vanish from the masked model: its output is the layer's bias for that row
(``prune_bias=False``) or zero, and each op on the way to the next layer transforms it. ``prune()``
may only drop a channel whose contribution it can reproduce exactly, so it tracks, per masked
channel, a value ``c`` and one of three shapes of signal:

* ``UNIFORM``: the constant ``c`` at every position of the feature map (or feature);
* ``SCALED``: ``c * P`` for a spatial pattern ``P >= 0`` shared by all the channels (what a zero-padded
  average pool makes of a constant);
* ``UNKNOWN``: zero where ``c == 0``, otherwise something input-independent that is not tracked
  (``c`` is NaN there).

A channel with ``c == 0`` is an exact zero whatever the kind, and can always be dropped.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


class SignalKind(enum.Enum):
    UNIFORM = "uniform"
    SCALED = "scaled"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Signal:
    """The output of a layer's masked channels: ``values[i]`` belongs to the i-th masked channel."""

    kind: SignalKind
    values: torch.Tensor

    @classmethod
    def constant(cls, values: torch.Tensor) -> Signal:
        return cls(SignalKind.UNIFORM, values)

    def nonzero(self) -> torch.Tensor:
        """Bool per masked channel: True where the channel may be non-zero (unknown counts)."""
        return self.values != 0  # NaN != 0 is True

    def _unknown(self, zero_stays_zero: bool | torch.Tensor) -> Signal:
        keep_zero = (self.values == 0) & torch.as_tensor(zero_stays_zero, device=self.values.device)
        nan = torch.full_like(self.values, float("nan"))
        return Signal(SignalKind.UNKNOWN, torch.where(keep_zero, torch.zeros_like(self.values), nan))

    def through_elementwise(self, fn: Callable[[torch.Tensor], torch.Tensor], homogeneous: bool) -> Signal:
        """After an element-wise function; ``homogeneous`` means ``fn(c * p) = fn(c) * p`` for ``p >= 0``."""
        if self.kind is SignalKind.UNIFORM or (self.kind is SignalKind.SCALED and homogeneous):
            return Signal(self.kind, fn(self.values.clone()))
        zero = torch.zeros(1, dtype=self.values.dtype, device=self.values.device)
        return self._unknown(bool(fn(zero).item() == 0))

    def through_batch_norm(
        self,
        batch_stats: bool,
        running_mean: torch.Tensor | None,
        running_var: torch.Tensor | None,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        eps: float,
    ) -> Signal:
        """After BatchNorm, given the masked channels' slices of its parameters.

        With batch statistics a constant channel normalizes to zero, so the output is the BN bias;
        with running statistics BN is a per-channel affine map of the constant.
        """
        shift = bias if bias is not None else torch.zeros_like(self.values)
        if self.kind is not SignalKind.UNIFORM:
            return self._unknown(shift == 0)
        if batch_stats:
            return Signal.constant(shift.to(self.values.dtype).clone())
        out = F.batch_norm(self.values[None], running_mean, running_var, weight, bias, False, 0.0, eps)
        return Signal.constant(out[0])

    def through_pool(self, is_average: bool, preserves_uniform: bool) -> Signal:
        """After a pool. Average pools are linear (constants may become ``c * P``); max pools are not."""
        if is_average:
            if self.kind is SignalKind.UNIFORM and not preserves_uniform:
                return Signal(SignalKind.SCALED, self.values)
            return self
        if self.kind is SignalKind.SCALED:
            return self._unknown(True)
        return self

    def dropped(self) -> Signal:
        """After an op (LayerNorm) whose pruned form simply leaves the masked channels out."""
        return Signal.constant(torch.zeros_like(self.values))
