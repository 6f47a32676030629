"""The reference's ``prune()`` trace: a plain Sequential's graph is built without tracing, and must equal fx's.

``tracing.trace`` skips ``torch.fx``'s tracer for an ``nn.Sequential`` of leaf modules because the
graph is determined by the children. These tests hold that shortcut to the tracer's output, node for
node, so a torch upgrade that changes what fx records shows up here rather than as a subtle
difference in the module ``prune()`` returns.
"""

from __future__ import annotations

import pytest
import torch
from prunebench.reference_impl.structured import tracing
from torch import nn
from torch.fx import GraphModule, symbolic_trace

from prunebench import reference_impl as ref


def _nodes(traced: GraphModule) -> list[tuple]:
    return [(n.op, n.name, n.target, str(n.args), dict(n.kwargs), n.type, n.meta) for n in traced.graph.nodes]


def _masked_stack() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 6), nn.Dropout(), nn.Linear(6, 2))
    pruner = ref.SaliencyPruner({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": "0.weight"}, {"tensor_fqn": "2.weight"}])
    return model


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), id="plain"),
        pytest.param(_masked_stack, id="parametrized_with_bias_hooks"),
        pytest.param(lambda: nn.Sequential(), id="empty"),
    ],
)
def test_sequential_graph_is_what_symbolic_trace_records(make) -> None:
    model = make()
    assert tracing._sequential_graph(model) is not None  # the shortcut is taken
    built, traced = tracing.trace(model), symbolic_trace(model)
    assert _nodes(built) == _nodes(traced)
    assert built.code == traced.code
    assert built.graph._tracer_cls is traced.graph._tracer_cls
    assert dict(built.named_children()).keys() == dict(traced.named_children()).keys()


class _Doubling(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2


class _Scale(nn.Module):
    """A user's module: fx traces into it (its class is not from torch.nn)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 3


_SHARED_ACTIVATION = nn.ReLU()


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(_Doubling(nn.Linear(2, 2)), id="subclass_overrides_forward"),
        pytest.param(nn.Sequential(nn.Sequential(nn.Linear(2, 2)), nn.ReLU()), id="nested_container"),
        pytest.param(nn.Sequential(nn.Linear(2, 2), _Scale()), id="user_module_child"),
        pytest.param(
            nn.Sequential(nn.Linear(2, 2), _SHARED_ACTIVATION, nn.Linear(2, 2), _SHARED_ACTIVATION),
            id="module_called_twice",
        ),
    ],
)
def test_anything_but_a_flat_sequential_is_traced(model: nn.Module) -> None:
    assert tracing._sequential_graph(model) is None
    built = tracing.trace(model)
    assert [n.op for n in built.graph.nodes] == [n.op for n in symbolic_trace(model).graph.nodes]
    x = torch.randn(3, 2)
    torch.testing.assert_close(built(x), model(x))


def test_sequential_shortcut_keeps_the_models_own_children_and_mode() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).eval()
    built = tracing.trace(model)
    assert built.get_submodule("0") is model[0] and built.get_submodule("1") is model[1]
    assert not built.training and not built.get_submodule("1").training


def test_a_layer_called_twice_is_still_refused_by_prune():
    """A reused Linear is named once by named_children but called twice: prune() must see both calls."""
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    pruner = ref.SaliencyPruner({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": "0.weight"}])
    pruner.step()
    with pytest.raises(ValueError, match="calls it 2 times"):
        pruner.prune()
