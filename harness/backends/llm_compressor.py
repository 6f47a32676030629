"""The ``llm-compressor`` backend: llm-compressor's SparseGPT and Wanda modifiers, run by its ``oneshot``.

llm-compressor (the vLLM project's compression library) prunes ``transformers`` language models in one
shot: a recipe of modifiers (``SparseGPTModifier``, ``WandaPruningModifier``) applied by
``oneshot(model=..., dataset=..., recipe=...)``, which calibrates on the dataset and prunes in place. The
adapter drives it as a user does, offline: the model object itself, a tokenizer built here with
``tokenizers`` (one token per id, so the calibration token ids pass through unchanged), the calibration
batches as an in-memory ``datasets.Dataset`` of ``input_ids``, and the recipe ``targets=["Linear"]`` with
the layers to leave out as its ``ignore`` list. ``oneshot`` refuses a model whose config names no
directory to read it back from (its ``validate_model``), so the config is written to a temporary one
for the call.

Its modifiers are no sparsifier classes of the ``torch.ao.pruning`` shape, so the backend provides only
``oneshot_pruners`` (``harness.oneshot``): the one-shot suite checks them, every other suite reports them
unsupported. llm-compressor's ``MagnitudePruningModifier`` is a gradual, training-time schedule
(``init_sparsity``, ``final_sparsity``, start and end epochs), not one-shot magnitude, and is left out.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prunebench.harness.errors import BackendUnavailableError, UnsupportedError
from prunebench.harness.oneshot import Batch, OneShotPruner, OneShotTags, SparsityPattern
from torch import nn

try:
    import datasets
    import llmcompressor
    import tokenizers
    import transformers
    from llmcompressor import oneshot
    from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier
except ImportError as error:
    raise BackendUnavailableError("llm-compressor", "llmcompressor", "llm-compressor", error) from error

name = "llm-compressor"
version = llmcompressor.__version__
xfails = Path(__file__).with_name("llm_compressor.xfails")
"""What the one-shot suite finds wrong in llm-compressor, as data: test-id prefixes with classified reasons."""

UNKNOWN_TOKEN = "t0"
REGEX = "re:"
"""How llm-compressor's ``ignore`` and ``targets`` mark a regular expression (matched against module names)."""
TOKENIZERS_PARALLELISM = "TOKENIZERS_PARALLELISM"
"""``oneshot`` sets this variable of the process environment to ``false`` when it is unset (``Oneshot.__init__``,
to silence a fork warning of ``tokenizers``); the adapter puts the environment back after each call, so the
harness's guard of process-wide state judges the pruning, not this documented setting."""


@contextmanager
def _environment_kept(variable: str) -> Iterator[None]:
    before = os.environ.get(variable)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before


def _tokenizer(vocab_size: int) -> transformers.PreTrainedTokenizerFast:
    """A word-level tokenizer whose token ``t<i>`` is id ``i``: the processor ``oneshot`` requires with a dataset."""
    vocabulary = {f"t{index}": index for index in range(vocab_size)}
    model = tokenizers.models.WordLevel(vocabulary, unk_token=UNKNOWN_TOKEN)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer(model), unk_token=UNKNOWN_TOKEN, pad_token=UNKNOWN_TOKEN
    )


def _token_rows(calibration: Sequence[Batch]) -> list[list[int]]:
    """Every sequence of every batch (a tensor of token ids, or keyword inputs with ``input_ids``)."""
    rows = []
    for batch in calibration:
        ids = batch["input_ids"] if isinstance(batch, Mapping) else batch
        rows += ids.reshape(-1, ids.shape[-1]).tolist()
    return rows


def _mask_structure(pattern: SparsityPattern) -> str:
    """llm-compressor's ``mask_structure``: ``"N:M"`` prunes N of every M (its ``prune_n``), ``"0:0"`` none."""
    return "0:0" if pattern.m is None else f"{pattern.m - pattern.n}:{pattern.m}"


def _transformers_model(model: nn.Module, ignore: Sequence[str]) -> tuple[Any, list[str]]:
    """The ``transformers`` model ``oneshot`` is given, and ``ignore`` as names inside it.

    ``model`` itself, or the one ``transformers`` model a wrapper holds (a module whose forward returns the
    logits alone, as the quality suite's language model is) when every Linear of ``model`` lies inside it: its
    modules' names are then the wrapper's without the prefix (an llm-compressor regex, ``re:...``, is passed as
    it is). Anything else is unsupported."""
    if isinstance(model, transformers.PreTrainedModel):
        return model, list(ignore)
    inner = [
        (name, module) for name, module in model.named_modules() if isinstance(module, transformers.PreTrainedModel)
    ]
    outermost = [(name, module) for name, module in inner if not any(name.startswith(f"{o}.") for o, _ in inner)]
    if len(outermost) == 1:
        prefix = f"{outermost[0][0]}."
        linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
        names = [name for name in ignore if not name.startswith(REGEX)]
        if all(name.startswith(prefix) for name in [*linears, *names]):
            return outermost[0][1], [name if name.startswith(REGEX) else name.removeprefix(prefix) for name in ignore]
    raise UnsupportedError(
        f"llm-compressor's oneshot prunes transformers models from token ids; got a {type(model).__name__}"
        " (neither one nor a wrapper holding exactly one with all its Linear layers)"
    )


def _pruner(modifier_type: type) -> Any:
    def prune(model: nn.Module, calibration: Sequence[Batch], pattern: SparsityPattern, ignore: Sequence[str]) -> None:
        model, ignore = _transformers_model(model, ignore)
        rows = _token_rows(calibration)
        recipe = modifier_type(
            sparsity=pattern.sparsity_level,
            mask_structure=_mask_structure(pattern),
            targets=["Linear"],
            ignore=list(ignore),
        )
        saved_path = model.config.name_or_path
        with tempfile.TemporaryDirectory() as directory, _environment_kept(TOKENIZERS_PARALLELISM):
            model.config.save_pretrained(directory)
            model.config.name_or_path = directory
            try:
                oneshot(
                    model=model,
                    dataset=datasets.Dataset.from_dict({"input_ids": rows}),
                    recipe=[recipe],
                    processor=_tokenizer(model.config.vocab_size),
                    num_calibration_samples=len(rows),
                    max_seq_length=max((len(row) for row in rows), default=1),
                )
            finally:
                model.config.name_or_path = saved_path

    return prune


UPDATES_WEIGHTS = OneShotTags(updates_weights=True, calibration=True)
MASKS_ONLY = OneShotTags(calibration=True)

oneshot_pruners = (
    OneShotPruner("SparseGPTModifier", "SparseGPT", _pruner(SparseGPTModifier), UPDATES_WEIGHTS),
    OneShotPruner("WandaPruningModifier", "Wanda", _pruner(WandaPruningModifier), MASKS_ONLY),
)

__all__ = ["oneshot_pruners"]
