"""The ``torch-pruning`` adapter: unavailable without the library, resolvable with it, exact."""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

import pytest
import torch
from prunebench.harness.backend import resolve_backend
from prunebench.harness.errors import BackendUnavailableError, UsageError
from torch import nn
from torch.nn.utils import parametrize

from .conftest import hide_library, import_adapter

ADAPTER = "prunebench.harness.backends.torch_pruning_adapter"
MISSING_HINT = "pip install 'prunebench[torch-pruning]'"
PROVIDED = ["BaseStructuredSparsifier", "FakeStructuredSparsity", "SaliencyPruner", "FPGMPruner"]

adapter = import_adapter(ADAPTER)
needs_torch_pruning = pytest.mark.skipif(adapter is None, reason="torch-pruning is not installed")


@pytest.fixture
def without_torch_pruning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import torch_pruning`` fail and forget the adapter, so that the next import runs it afresh."""
    hide_library(monkeypatch, "torch_pruning", ADAPTER)


def test_import_without_torch_pruning_names_the_extra(without_torch_pruning):
    with pytest.raises(BackendUnavailableError) as error:
        importlib.import_module(ADAPTER)
    assert (error.value.backend, error.value.library, error.value.extra) == ("torch-pruning",) * 3
    assert MISSING_HINT in str(error.value), str(error.value)


def test_resolving_without_torch_pruning_is_a_usage_error(without_torch_pruning):
    with pytest.raises(UsageError) as error:
        resolve_backend(ADAPTER)
    assert MISSING_HINT in str(error.value), str(error.value)


@needs_torch_pruning
def test_resolves_with_name_version_and_the_structured_names():
    backend = resolve_backend(ADAPTER)
    assert backend.name == "torch-pruning"
    # the distribution's version: torch-pruning 1.6.1 still says __version__ = "1.6.0"
    assert backend.version == importlib.metadata.version("torch-pruning")
    assert backend.provided() == PROVIDED, f"provided {backend.provided()}"
    assert backend.xfails_file is not None and backend.xfails_file.is_file()


def rows_pruner() -> type:
    """A pruner on the adapter's base class that masks the ``rows`` each config entry lists."""

    class RowsPruner(adapter.BaseStructuredSparsifier):
        def update_mask(self, module: nn.Module, tensor_name: str, rows: tuple[int, ...] = (), **kwargs: Any) -> None:
            module.parametrizations[tensor_name][0].mask[list(rows)] = False

    return RowsPruner


def masked_by_rows(model: nn.Module, config: list[dict[str, Any]]) -> Any:
    """A ``rows_pruner`` prepared on ``model`` with ``config`` and stepped once: the rows are masked."""
    pruner = rows_pruner()({})
    pruner.prepare(model, config)
    pruner.step()
    return pruner


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3)).eval()


def _parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@needs_torch_pruning
@pytest.mark.parametrize("inputs", ["derived", "explicit"])
def test_prunes_a_three_layer_mlp_to_the_masked_output(inputs):
    model, x = _mlp(), torch.randn(4, 6)
    before = _parameter_count(model)
    pruner = adapter.SaliencyPruner({"sparsity_level": 0.5})
    pruner.prepare(model, [{"tensor_fqn": "0.weight"}, {"tensor_fqn": "2.weight"}])
    pruner.step()
    kept = [int(model[index].parametrizations.weight[0].mask.sum()) for index in (0, 2)]
    with torch.no_grad():
        masked = model(x)
    pruned = pruner.prune(x if inputs == "explicit" else None)
    assert pruned is model
    assert (model[0].out_features, model[2].in_features, model[2].out_features, model[4].in_features) == (
        kept[0],
        kept[0],
        kept[1],
        kept[1],
    )
    assert kept == [4, 3] and _parameter_count(model) < before
    assert not any(parametrize.is_parametrized(module) for module in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(x), masked)


@needs_torch_pruning
def test_saliency_scores_rows_with_torch_prunings_l1_importance():
    layer = nn.Linear(3, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1.0, 1.0], [0.1, 0.1, -0.1], [2.0, 0.0, 0.0], [0.5, 0.5, 0.0]]))
    scores = adapter._ROW_L1(adapter._one_layer_group(layer))
    torch.testing.assert_close(scores, layer.weight.detach().abs().sum(1))


class ConvFlatten(nn.Module):
    """Runs only on 28x28 images: MaxPool2d(4) -> flatten fixes the linear's input size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 7 * 7, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.max_pool2d(self.conv(x), 4), 1))


class LSTMHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0])


@needs_torch_pruning
@pytest.mark.parametrize(
    ("model_class", "shape"),
    [(_mlp, (1, 6)), (ConvFlatten, (1, 2, 28, 28)), (LSTMHead, (1, "steps", 5))],
    ids=["linear", "conv_fixed_size", "lstm_batch_first"],
)
def test_derived_example_input_fits_the_first_layer(model_class, shape):
    (derived,) = adapter.derive_example_inputs(model_class())
    expected = tuple(adapter.LSTM_SEQUENCE_LENGTH if size == "steps" else size for size in shape)
    assert tuple(derived.shape) == expected


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.b = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x) * scale)


@needs_torch_pruning
def test_no_derivable_input_asks_for_one_before_touching_the_model():
    model = TwoInputs()
    pruner = masked_by_rows(model, [{"tensor_fqn": "a.weight", "rows": (1,)}])
    with pytest.raises(ValueError, match="example_inputs"):
        pruner.prune()
    assert parametrize.is_parametrized(model.a, "weight"), "prune() changed the model before failing"
    pruned = pruner.prune((torch.randn(2, 3), torch.tensor(2.0)))
    assert (pruned.a.out_features, pruned.b.in_features) == (3, 3)


class Residual(nn.Module):
    """Two layers added together: Torch-Pruning removes their output rows together."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(4, 6)
        self.head = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.a(x) + self.b(x))


@needs_torch_pruning
@pytest.mark.parametrize(
    ("rows_a", "rows_b", "error"),
    [((1, 4), (1, 4), None), ((1, 4), None, "which no mask prunes"), ((1, 4), (2,), r"which its mask \(rows \[2\]\)")],
    ids=["same_masks", "partner_unmasked", "different_masks"],
)
def test_coupled_layers_must_mask_the_same_rows(rows_a, rows_b, error):
    model, x = Residual().eval(), torch.randn(3, 4)
    config = [{"tensor_fqn": "a.weight", "rows": rows_a}]
    config += [{"tensor_fqn": "b.weight", "rows": rows_b}] if rows_b else []
    pruner = masked_by_rows(model, config)
    with torch.no_grad():
        masked = model(x)
    if error:
        with pytest.raises(ValueError, match=error):
            pruner.prune()
        assert (model.a.out_features, model.b.out_features) == (6, 6), "rows were removed before the error"
        return
    pruner.prune()
    assert (model.a.out_features, model.b.out_features, model.head.in_features) == (4, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(model(x), masked)


@needs_torch_pruning
def test_prune_keeps_the_training_flags():
    model = _mlp().train()
    model[1].eval()
    pruner = masked_by_rows(model, [{"tensor_fqn": "0.weight", "rows": (0,)}])
    pruner.prune()
    assert [module.training for module in model] == [True, False, True, True, True]


@needs_torch_pruning
def test_squash_mask_leaves_no_parametrization_and_keeps_zeroed_biases():
    model = _mlp()
    pruner = masked_by_rows(model, [{"tensor_fqn": "0.weight", "rows": (2,)}])
    pruner.squash_mask()
    assert not any(parametrize.is_parametrized(module) for module in model.modules())
    assert model[0].bias[2] == 0 and not model[0].weight[2].any()
