"""The ``llm-compressor`` adapter: unavailable without llmcompressor; with it, its one-shot records and the
minimal reproduction behind its first expected failure (the ignore list misses ``lm_head``).

The suite's findings are data in ``harness/backends/llm_compressor.xfails`` (``test_shipped_xfails`` keeps
them classified and current). llmcompressor is a ~1.5 GB install outside the main test command:
``tox -e llm-compressor`` installs it and runs these tests and the one-shot suite against it.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from prunebench.harness.api import API_NAMES
from prunebench.harness.backend import resolve_backend
from prunebench.harness.errors import BackendUnavailableError, UsageError
from prunebench.harness.oneshot import SparsityPattern

from .conftest import hide_library, import_adapter

ADAPTER = "prunebench.harness.backends.llm_compressor"
MISSING_HINT = "pip install 'prunebench[llm-compressor]'"

adapter = import_adapter(ADAPTER)
needs_llmcompressor = pytest.mark.skipif(
    adapter is None, reason="llmcompressor is not installed (tox -e llm-compressor installs it)"
)


@pytest.fixture
def without_llmcompressor(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_library(monkeypatch, "llmcompressor", ADAPTER)


def test_import_without_llmcompressor_names_the_extra(without_llmcompressor):
    with pytest.raises(BackendUnavailableError) as error:
        importlib.import_module(ADAPTER)
    assert (error.value.backend, error.value.library, error.value.extra) == (
        "llm-compressor",
        "llmcompressor",
        "llm-compressor",
    )
    assert MISSING_HINT in str(error.value), str(error.value)


def test_resolving_without_llmcompressor_is_a_usage_error(without_llmcompressor):
    with pytest.raises(UsageError) as error:
        resolve_backend("llm-compressor")
    assert MISSING_HINT in str(error.value), str(error.value)


@needs_llmcompressor
def test_resolves_to_its_oneshot_pruners_and_no_contract_class():
    backend = resolve_backend("llm-compressor")
    assert backend.version == importlib.metadata.version("llmcompressor")
    assert [name for name in API_NAMES if backend.provides(name)] == []
    pruners = {pruner.name: pruner for pruner in backend.get("oneshot_pruners")}
    assert sorted(pruners) == ["SparseGPTModifier", "WandaPruningModifier"]
    assert pruners["SparseGPTModifier"].tags.updates_weights and pruners["SparseGPTModifier"].tags.calibration
    assert not pruners["WandaPruningModifier"].tags.updates_weights
    assert backend.xfails_file is not None and backend.xfails_file.is_file()


@needs_llmcompressor
def test_a_leaf_target_is_named_with_a_trailing_dot_that_no_exact_ignore_matches():
    # SparsityModifierBase.on_calibration_start names each prunable module f"{layer_name}.{name}", where
    # name is the module's name inside the target layer: empty when the target is the Linear itself.
    from compressed_tensors.utils import match_named_modules, match_targets
    from prunebench.suites.oneshot_models import ONESHOT_MODELS

    lm_head = ONESHOT_MODELS["llama"].build("cpu", torch.float32).lm_head
    names = [f"lm_head.{name}" for name, _ in match_named_modules(lm_head, ["Linear"])]
    assert names == ["lm_head."]
    assert match_targets("lm_head.", lm_head, ["lm_head"]) == []  # the exact name misses it: lm_head is pruned
    assert match_targets("lm_head.", lm_head, ["re:.*lm_head"]) == ["re:.*lm_head"]  # a regex (re.match) hits it
    assert not "lm_head.".endswith("lm_head")  # so the modifier's own lm_head warning stays silent too


@needs_llmcompressor
@pytest.mark.parametrize(("ignore", "lm_head_zeros"), [("lm_head", 0.5), ("re:.*lm_head", 0.0)])
def test_oneshot_prunes_lm_head_unless_ignored_by_a_regex(ignore, lm_head_zeros):
    from prunebench.suites.oneshot_models import ONESHOT_MODELS

    record = ONESHOT_MODELS["llama"]
    model = record.build("cpu", torch.float32)
    sparsegpt = next(pruner for pruner in adapter.oneshot_pruners if pruner.method == "SparseGPT")
    sparsegpt.prune(model, record.batches("cpu", torch.float32), SparsityPattern.unstructured(0.5), [ignore])
    zeros = float((model.lm_head.weight == 0).double().mean())
    assert zeros == pytest.approx(lm_head_zeros, abs=1e-3), f"ignore=[{ignore!r}]: lm_head has {zeros:.2%} zeros"


@needs_llmcompressor
def test_a_wrapped_transformers_model_is_pruned_as_the_bare_one():
    """A wrapper returning the logits alone (the quality suite's language model) holds one transformers model:
    the adapter prunes that model, with the ignore names taken inside it (a regex as it is); the masks equal the
    bare model's."""
    from prunebench.suites.oneshot_models import ONESHOT_MODELS
    from prunebench.suites.zoo.models import Logits

    record = ONESHOT_MODELS["llama"]
    wanda = next(pruner for pruner in adapter.oneshot_pruners if pruner.method == "Wanda")
    bare, wrapped = record.build("cpu", torch.float32), Logits(record.build("cpu", torch.float32))
    batches, half = record.batches("cpu", torch.float32), SparsityPattern.unstructured(0.5)
    wanda.prune(bare, batches, half, ["lm_head", "re:.*lm_head"])
    wanda.prune(wrapped, batches, half, ["model.lm_head", "re:.*lm_head"])
    for name, parameter in bare.named_parameters():
        assert torch.equal(parameter == 0, wrapped.get_parameter(f"model.{name}") == 0), name
    assert not (wrapped.model.lm_head.weight == 0).any()  # ignored by the regex, inside the wrapper
    assert (wrapped.model.model.layers[0].mlp.up_proj.weight == 0).double().mean() == pytest.approx(0.5, abs=1e-3)


@needs_llmcompressor
def test_a_module_holding_no_transformers_model_is_unsupported():
    from prunebench.harness.errors import UnsupportedError

    sparsegpt = next(pruner for pruner in adapter.oneshot_pruners if pruner.method == "SparseGPT")
    with pytest.raises(UnsupportedError, match="prunes transformers models"):
        sparsegpt.prune(torch.nn.Sequential(torch.nn.Linear(8, 8)), [], SparsityPattern.unstructured(0.5), [])
