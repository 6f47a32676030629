"""Subclasses of the layers structured pruning supports (Linear, Conv2d, LSTM), as users' models define them.

A subclass that computes as its parent (an extra attribute, its own ``__init__``) is pruned as the
parent; one with its own ``forward`` is left whole, reported in ``unpruned_layers``, and the layer
feeding it stays whole too, on both of ``prune()``'s paths: the fx trace (a model ``torch.fx`` can
trace) and the captured graph (one it cannot, given ``example_inputs``). Every case checks that the
pruned model computes what the masked one did, in float32 and bfloat16, in a CNN and in an MLP (and an
LSTM subclass of each kind after a Linear).
``tests/broken/_subclass_pruned_as_parent.py`` prunes the overriding subclass as its parent, which
``check_subclasses`` must catch.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from prunebench.reference_impl import LSTMSaliencyPruner, SaliencyPruner
from prunebench.reference_impl.structured.masks import row_mask_parametrization
from torch import nn

DTYPE_TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 3e-2}


class HubConv2d(nn.Conv2d):
    """Keeps ``nn.Conv2d``'s computation, adds an attribute (as Hugging Face's convolution subclasses do)."""

    def __init__(self, *args, layer_id: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layer_id = layer_id


class HubLinear(nn.Linear):
    """Keeps ``nn.Linear``'s computation, adds an attribute."""

    def __init__(self, *args, layer_id: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layer_id = layer_id


class ScaledConv2d(nn.Conv2d):
    """Its own forward: every output channel times a learned scale (pruning it as a Conv2d would leave the
    scale whole, so its forward breaks)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scale = nn.Parameter(torch.rand(self.out_channels) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.scale[:, None, None]


class ScaledLinear(nn.Linear):
    """Its own forward: every output feature times a learned scale."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scale = nn.Parameter(torch.rand(self.out_features) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.scale


class Net(nn.Module):
    """``first -> act -> middle -> act -> last -> head``: ``middle`` is the subclass under test.

    ``traceable=False`` reads the batch size as a Python int, which ``torch.fx`` cannot trace, so
    ``prune()`` takes the captured-graph path.
    """

    def __init__(self, cnn: bool, middle: type[nn.Module], traceable: bool) -> None:
        super().__init__()
        self.cnn, self.traceable = cnn, traceable
        if cnn:
            self.first = nn.Conv2d(3, 8, 3, padding=1)
            self.middle = middle(8, 8, 3, padding=1)
            self.last = nn.Conv2d(8, 6, 1)
        else:
            self.first = nn.Linear(5, 8)
            self.middle = middle(8, 8)
            self.last = nn.Linear(8, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.traceable and int(x.shape[0]) < 1:
            raise ValueError("empty batch")
        y = self.last(F.relu(self.middle(F.relu(self.first(x)))))
        y = F.relu(y)
        return self.head(F.adaptive_avg_pool2d(y, 1).flatten(1) if self.cnn else y)


def _inputs(cnn: bool, dtype: torch.dtype, batch: int) -> tuple[torch.Tensor]:
    return (torch.randn(batch, 3, 6, 6, dtype=dtype) if cnn else torch.randn(batch, 5, dtype=dtype),)


PATHS = {"fx": True, "graph": False}
KEEPS_FORWARD = {True: HubConv2d, False: HubLinear}
OWN_FORWARD = {True: ScaledConv2d, False: ScaledLinear}


def check_subclasses(pruner_class: type, cnn: bool, traceable: bool, dtype: torch.dtype, overriding: bool) -> None:
    """Prepare (every layer but the head), step at 0.5 and prune a ``Net`` whose ``middle`` is the subclass;
    raise ``AssertionError`` unless the subclass is pruned as its parent (or, ``overriding``, left whole and
    reported with its producer) and the pruned model computes what the masked one did."""
    torch.manual_seed(0)
    middle = (OWN_FORWARD if overriding else KEEPS_FORWARD)[cnn]
    model = Net(cnn, middle, traceable).to(dtype).eval()
    inputs, other = _inputs(cnn, dtype, 2), _inputs(cnn, dtype, 3)
    pruner = pruner_class({"sparsity_level": 0.5})
    config = [{"tensor_fqn": f"{name}.weight"} for name in ("first", "middle", "last")]
    pruner.prepare(model, config, example_inputs=None if traceable else inputs)
    pruner.step()
    with torch.no_grad():
        masked = [model(*inputs), model(*other)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = pruner.prune()
    tolerance = DTYPE_TOLERANCE[dtype]
    with torch.no_grad():
        for want, x in zip(masked, (inputs, other), strict=True):
            torch.testing.assert_close(pruned(*x), want, rtol=tolerance, atol=tolerance)
    layer = pruned.get_submodule("middle")
    assert isinstance(layer, middle), f"middle is a {type(layer).__name__} after prune(), expected a {middle.__name__}"
    width = layer.out_channels if cnn else layer.out_features
    if overriding:
        assert width == 8, f"middle ({middle.__name__}, own forward) has {width} outputs after prune(), expected 8"
        assert row_mask_parametrization(layer, "weight") is None, "a layer left whole must get no mask"
        assert "overrides" in pruner.unpruned_layers.get("middle", ""), pruner.unpruned_layers
        assert "first" in pruner.unpruned_layers, f"first feeds the whole middle: {pruner.unpruned_layers}"
    else:
        assert width == 4, f"middle ({middle.__name__}) has {width} outputs after prune(), expected 4"
        assert layer.layer_id == 0 and pruner.unpruned_layers == {}, pruner.unpruned_layers


CASES = [
    pytest.param(cnn, path, dtype, id=f"{'cnn' if cnn else 'mlp'}-{path}-{str(dtype).removeprefix('torch.')}")
    for cnn in (True, False)
    for path in PATHS
    for dtype in DTYPE_TOLERANCE
]


@pytest.mark.parametrize(("cnn", "path", "weight_dtype"), CASES)
def test_a_subclass_keeping_its_parents_forward_is_pruned_as_the_parent(cnn: bool, path: str, weight_dtype):
    check_subclasses(SaliencyPruner, cnn, PATHS[path], weight_dtype, overriding=False)


@pytest.mark.parametrize(("cnn", "path", "weight_dtype"), CASES)
def test_a_subclass_with_its_own_forward_is_left_whole_and_reported(cnn: bool, path: str, weight_dtype):
    check_subclasses(SaliencyPruner, cnn, PATHS[path], weight_dtype, overriding=True)


def _broken() -> Callable:
    return importlib.import_module("tests.broken._subclass_pruned_as_parent").SaliencyPruner


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cnn", [True, False], ids=["cnn", "mlp"])
def test_the_check_catches_a_pruner_that_prunes_an_overriding_subclass_as_its_parent(cnn: bool, path: str):
    with pytest.raises((AssertionError, RuntimeError)):
        check_subclasses(_broken(), cnn, PATHS[path], torch.float32, overriding=True)


def test_the_default_config_leaves_subclasses_to_the_user():
    """``config=None`` matches exact types, as torch's: a subclass is pruned when the config names it."""
    model = Net(cnn=False, middle=HubLinear, traceable=True)
    pruner = SaliencyPruner({"sparsity_level": 0.5})
    pruner.prepare(model, None)
    assert sorted(g["module_fqn"] for g in pruner.groups) == ["first", "head", "last"]


class HubLSTM(nn.LSTM):
    """Keeps ``nn.LSTM``'s computation, adds an attribute."""

    def __init__(self, *args, layer_id: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layer_id = layer_id


class DoubledLSTM(nn.LSTM):
    """Its own forward: the output doubled."""

    def forward(self, x: torch.Tensor, hx: object = None) -> tuple:
        out, state = super().forward(x, hx)
        return out * 2, state


class LstmNet(nn.Module):
    def __init__(self, lstm: type[nn.LSTM]) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 8)
        self.lstm = lstm(8, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(torch.relu(self.lin(x)))
        return self.out(y)


@pytest.mark.parametrize("lstm", [HubLSTM, DoubledLSTM], ids=["keeps_forward", "own_forward"])
def test_lstm_subclasses(lstm: type[nn.LSTM]):
    """An LSTM subclass that computes as ``nn.LSTM`` loses hidden units; one with its own forward stays whole."""
    torch.manual_seed(0)
    model, x = LstmNet(lstm).eval(), torch.randn(4, 2, 6)
    pruner = LSTMSaliencyPruner({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": f} for f in ("lin.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0")])
    pruner.step()
    with torch.no_grad():
        masked = model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = pruner.prune()
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), masked)
    hidden = pruned.get_submodule("lstm").hidden_size
    if lstm is HubLSTM:
        assert hidden == 3 and pruner.unpruned_layers == {}, (hidden, pruner.unpruned_layers)
    else:
        assert hidden == 6 and set(pruner.unpruned_layers) == {"lstm", "lin"}, (hidden, pruner.unpruned_layers)
