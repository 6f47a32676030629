"""The recorded capture (``graph/record.py``) against ``torch.export``: the same plan wherever it is used.

Graph pruning captures a model by recording one real forward where that is unambiguous and with
``torch.export`` where it is not. The recording must never change a plan: every function of its
table (``graph/functions.py``), applied to a convolution's channels, gives the plan export gives, and
so does every zoo model; every kind of ambiguity falls back to export, saying why; and the recording
leaves the model as it was. ``tests/broken/_recording_misnames_layer_norm.py`` (a table that records
a LayerNorm as an element-wise op) must be caught by the plan comparison.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from prunebench.reference_impl import SaliencyPruner
from prunebench.reference_impl.structured.graph.capture import Captured, capture, export
from prunebench.reference_impl.structured.graph.functions import OPS
from prunebench.reference_impl.structured.graph.groups import GraphPlan, plan_groups
from prunebench.reference_impl.structured.graph.record import AmbiguousError, record
from torch import nn

Case = Callable[[torch.Tensor], torch.Tensor]

CASES: dict[str, Case] = {
    # element-wise
    "relu": F.relu,
    "relu_inplace": lambda y: F.relu(y * 1, inplace=True),
    "torch_relu": torch.relu,
    "relu6": F.relu6,
    "hardtanh_0_6": lambda y: F.hardtanh(y, 0.0, 6.0),
    "hardtanh_shifted": lambda y: F.hardtanh(y, 0.5, 6.0),
    "gelu_tanh": lambda y: F.gelu(y, approximate="tanh"),
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "tanh_method": lambda y: y.tanh(),
    "exp": torch.exp,
    "hardswish": F.hardswish,
    "leaky_relu": lambda y: F.leaky_relu(y, 0.2),
    "neg": lambda y: -y,
    "square": torch.square,
    "float": lambda y: y.float(),
    "to_dtype": lambda y: y.to(torch.float64).to(torch.float32),
    "dropout_eval": lambda y: F.dropout(y, 0.1, training=False),
    "contiguous": lambda y: y.contiguous(),
    "clone_detach": lambda y: y.clone().detach(),
    # binary
    "add_scalar": lambda y: y + 1,
    "radd_scalar": lambda y: 1 + y,
    "mul_scalar": lambda y: 2 * y,
    "div_scalar": lambda y: y / 2,
    "rsub": lambda y: 1 - y,
    "rdiv": lambda y: 1 / (y.abs() + 1),
    "pow": lambda y: y**2,
    "rpow": lambda y: 2**y,
    "floordiv": lambda y: y // 2,
    "self_product": lambda y: y * y.sigmoid(),
    "maximum": lambda y: torch.maximum(y, 2 * y),
    "add_inplace": lambda y: (y * 1).add_(1),
    "iadd": lambda y: _iadd(y * 1, y),
    # reductions and normalisations over a dim
    "mean_spatial": lambda y: y.mean((2, 3), keepdim=True),
    "mean_channels": lambda y: y.mean(1),
    "sum_last": lambda y: y.sum(-1),
    "amax": lambda y: y.amax(-1),
    "softmax_channels": lambda y: F.softmax(y, 1),
    "softmax_last": lambda y: y.softmax(-1),
    "log_softmax": lambda y: torch.log_softmax(y, dim=-1),
    # shapes
    "view": lambda y: y.view(2, 8, 36),
    "reshape": lambda y: y.reshape(2, -1),
    "flatten": lambda y: y.flatten(2),
    "squeeze": lambda y: y[:, :, :1].squeeze(2),
    "unsqueeze": lambda y: y.unsqueeze(1),
    "transpose": lambda y: y.transpose(1, 2),
    "permute": lambda y: y.permute(0, 2, 3, 1),
    "torch_permute": lambda y: torch.permute(y, (0, 2, 3, 1)),
    "expand": lambda y: y[:, :1].expand(-1, 8, -1, -1),
    "select": lambda y: y.select(2, 0),
    "cat_channels": lambda y: torch.cat([y, y], 1),
    "cat_spatial": lambda y: torch.cat([y, y], 2),
    "split_channels": lambda y: y.split(4, 1)[0],
    "split_sizes": lambda y: y.split([2, 4], 2)[1],
    "chunk": lambda y: y.chunk(2, 2)[0],
    "unbind": lambda y: y.unbind(2)[0],
    "index_channels": lambda y: y[:, 2:6],
    "index_ellipsis": lambda y: y[..., :3],
    "index_none": lambda y: y[:, None],
    "index_full": lambda y: y[:, :],
    "index_int": lambda y: y[:, :, 0],
    "t": lambda y: y.flatten(1).t().t(),
    "mT": lambda y: y.mT,
    # spatial
    "pad": lambda y: F.pad(y, (1, 1)),
    "pad_value": lambda y: F.pad(y, (1, 1, 1, 1), value=1.0),
    "pad_reflect": lambda y: F.pad(y, (1, 1, 1, 1), mode="reflect"),
    "max_pool": lambda y: F.max_pool2d(y, 2),
    "avg_pool": lambda y: F.avg_pool2d(y, 2),
    "adaptive_avg_pool": lambda y: F.adaptive_avg_pool2d(y, 1),
    "interpolate_nearest": lambda y: F.interpolate(y, scale_factor=2),
    "interpolate_bilinear": lambda y: F.interpolate(y, size=(3, 3), mode="bilinear"),
    # attention-style products over the channels as a batch dim
    "matmul": lambda y: y @ y.transpose(-1, -2),
    "bmm": lambda y: torch.bmm(y.flatten(0, 1), y.flatten(0, 1)),
    # calls flow leaves whole, recorded under export's name
    "narrow": lambda y: y.narrow(1, 0, 4),
    "flip": lambda y: y.flip(1),
    "stack": lambda y: torch.stack([y, y], 1),
    "where": lambda y: torch.where(y > 0, y, 0.0),
    "masked_fill": lambda y: y.masked_fill(y > 0, 0),
    "zeros_like": lambda y: torch.zeros_like(y) + y,
    "clamp": lambda y: y.clamp(min=0),
    "einsum": lambda y: torch.einsum("bchw->bhwc", y),
}
"""Functions of the recording's table on the channels of a convolution (``Through``), by case id."""

MODULES: dict[str, Callable[[], nn.Module]] = {
    "batch_norm": lambda: nn.BatchNorm2d(8),
    "layer_norm_spatial": lambda: nn.LayerNorm(6),
    "group_norm": lambda: nn.GroupNorm(2, 8),
    "depthwise": lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8),
    "next_conv": lambda: nn.Conv2d(8, 4, 1),
    "layer_norm_channels": lambda: _ChannelNorm(),
}
"""Modules after the convolution (their own forward calls the functions)."""


def _iadd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a += b
    return a


class Through(nn.Module):
    """``conv`` (3 -> 8 channels), then ``f`` on its output, then a Linear head over everything ``f`` gives."""

    def __init__(self, f: Case | nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.f = f
        with torch.no_grad():
            width = self._features(torch.zeros(2, 3, 6, 6)).shape[1]
        self.head = nn.Linear(width, 3)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.f(self.conv(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._features(x))


def _signature(plan: GraphPlan) -> tuple[list, dict[str, str]]:
    """Everything a plan decides: groups (units, members, each space's readers and writers) and reasons."""
    groups = [
        (g.units, g.members, [(s.size, s.label, s.producers, s.consumers, s.channel_modules, s.channel_params,
                               s.grouped_convs, s.head_splits) for s in g.spaces])
        for g in plan.groups
    ]  # fmt: skip
    return groups, dict(plan.unpruned)


def _plan(captured: Captured, model: nn.Module, masked: Mapping[str, bool]) -> tuple:
    return _signature(plan_groups(captured, dict(model.named_modules()), masked, channel_hooks=True))


def recorded_and_exported(
    model: nn.Module, inputs: tuple, masked: Mapping[str, bool], ops: Mapping[Any, Any] = OPS
) -> tuple[tuple, tuple]:
    """The plans of ``model``'s recorded (with table ``ops``) and exported graphs."""
    recorded = Captured(*record(model, inputs, ops), method="recorded")
    return _plan(recorded, model, masked), _plan(export(model, inputs), model, masked)


def _through(case: str) -> Through:
    torch.manual_seed(0)
    return Through(CASES[case] if case in CASES else MODULES[case]()).eval()


IMAGES = (torch.randn(2, 3, 6, 6),)


@pytest.mark.parametrize("case", [*CASES, *MODULES])
def test_every_recorded_function_plans_as_export(case: str):
    recorded, exported = recorded_and_exported(_through(case), IMAGES, {"conv": True})
    assert recorded == exported


class _ChannelNorm(nn.Module):
    """A LayerNorm over a convolution's channels (moved last)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(8)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def test_the_comparison_catches_a_table_that_misnames_a_function():
    broken = importlib.import_module("tests.broken._recording_misnames_layer_norm").OPS
    permuted = Through(_ChannelNorm())
    recorded, exported = recorded_and_exported(permuted, IMAGES, {"conv": True}, ops=broken)
    assert recorded != exported
    assert "conv" in exported[1] and "conv" not in recorded[1]  # export leaves it whole, the broken table not
    assert recorded_and_exported(permuted, IMAGES, {"conv": True}) == (exported, exported)


@pytest.fixture(scope="module")
def zoo() -> Any:
    pytest.importorskip("transformers")
    return importlib.import_module("prunebench.suites.zoo.models")


@pytest.mark.parametrize("name", ["resnet", "mobilenet_v2", "vit", "bert", "llama_gqa", "regnet", "mobilevit"])
def test_every_zoo_model_is_recorded_with_the_plan_export_gives(zoo: Any, name: str):
    record_ = zoo.ZOO_BY_NAME[name]
    model, inputs = zoo.build_model(record_), zoo.example_inputs(record_)
    masked = {entry["tensor_fqn"].removesuffix(".weight"): True for entry in zoo.prunable_config(model, record_)}
    recorded, exported = recorded_and_exported(model, inputs, masked)
    assert recorded == exported


class _Holder:
    def __init__(self, value: torch.Tensor) -> None:
        self.value = value


class _Ambiguous(nn.Module):
    """A conv whose output meets one of the calls the recording must leave to export."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> Any:
        y = self.conv(x)
        if self.kind == "value_read":
            return y if bool(x.sum() > 0) else -y
        if self.kind == "unknown_function":
            return torch.cumsum(y, 1)
        if self.kind == "data_dependent_shape":
            return y.flatten()[: x[x > 0].numel()]
        if self.kind == "write_through_view":
            y.view(-1).add_(1)
            return y * 2 if self.training else y
        if self.kind == "opaque_output":
            return _Holder(y)
        if self.kind == "parameter_write":
            self.conv.weight.data.mul_(1.0)
            return y
        buffer = torch.zeros_like(x[:, :1]).expand(-1, 8, -1, -1).contiguous()
        return buffer.add_(y)  # "untraced_in_place": channels written into a tensor the recording does not follow


AMBIGUITIES = {
    "value_read": "reads values",
    "unknown_function": "not a call the recording knows",
    "data_dependent_shape": "depends on its values",
    "write_through_view": "in place through another view",
    "opaque_output": "cannot see into",
    "parameter_write": "writes into a parameter",
    "untraced_in_place": "does not follow",
}


@pytest.mark.parametrize("kind", AMBIGUITIES)
def test_the_recording_refuses_what_is_ambiguous_and_says_why(kind: str):
    torch.manual_seed(0)
    model = _Ambiguous(kind).eval()
    weight = model.conv.weight.detach().clone()
    with pytest.raises(AmbiguousError, match=AMBIGUITIES[kind]):
        record(model, IMAGES)
    assert torch.equal(model.conv.weight, weight), "the recording must not write into the model's parameters"


def test_an_ambiguous_recording_falls_back_to_export():
    model = _Ambiguous("unknown_function").eval()
    captured = capture(model, IMAGES, clean_copy=lambda: model)
    assert captured.method == "export" and "cumsum" in captured.fallback, captured.fallback
    assert any(getattr(n.target, "__name__", "").startswith("cumsum") for n in captured.graph.nodes)


def test_a_hooked_model_is_recorded_from_a_clean_copy_or_exported():
    model = Through(F.relu)
    model.conv.register_forward_hook(lambda module, args, output: output * 2)
    captured = capture(model, IMAGES, clean_copy=lambda: model)
    assert captured.method == "export" and "forward hooks" in captured.fallback


def test_recording_leaves_the_model_as_it_was():
    """BatchNorm statistics (train mode), the random number generator, hooks: all as before the capture."""
    torch.manual_seed(0)
    model = Through(nn.Sequential(nn.BatchNorm2d(8), nn.Dropout(0.5))).train()
    statistics = [t.clone() for t in model.f[0]._buffers.values()]
    rng = torch.get_rng_state()
    captured = capture(model, IMAGES, clean_copy=lambda: model)
    assert captured.method == "recorded", captured.fallback
    assert all(torch.equal(a, b) for a, b in zip(statistics, model.f[0]._buffers.values(), strict=True))
    assert torch.equal(torch.get_rng_state(), rng)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


class _Untraceable(Through):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if int(x.shape[0]) < 1:  # torch.fx cannot trace int(Proxy): prune() takes the graph path
            raise ValueError("empty batch")
        return super().forward(x)


def test_prepare_records_a_model_fx_cannot_trace():
    """``prepare`` with example inputs records the model (no export) and plans its groups from that."""
    model = _Untraceable(nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1)))
    pruner = SaliencyPruner({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": "conv.weight"}, {"tensor_fqn": "f.2.weight"}], example_inputs=IMAGES)
    assert pruner.graph is not None and pruner.graph.method == "recorded"
    assert [g.members for g in pruner.graph.plan.groups] == [["conv"], ["f.2"]]
