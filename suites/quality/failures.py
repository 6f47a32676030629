"""Why a built-in fails where it fails: known failures of the quality grid, classified, as data.

The classes are the conformance report's (``results/conformance.md``): a **library bug** (wrong by the
library's own intent), a **contract difference** (works as designed, but not to the contract), a
**library limit** (a case the library was not built for), an **adapter refusal** (prunebench's adapter
declines rather than hang or corrupt). A failure no record matches is reported as *unclassified*,
with its message: a new failure (a user's backend, a new library version) is never dressed up as a
known one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownFailure:
    """A failure of some backends' rule, recognised by a fragment of its message."""

    backends: tuple[str, ...]
    rules: tuple[str, ...]
    fragments: tuple[str, ...]
    """Any of these in the failure's message identifies it."""
    classification: str
    explanation: str

    def matches(self, backend: str, rule: str, message: str) -> bool:
        return backend in self.backends and rule in self.rules and any(f in message for f in self.fragments)


TORCH_COPIES = ("torch", "torchao")
"""torchao.prototype.sparsity is a copy of torch.ao.pruning: the same code fails the same way."""
STRUCTURED_RULES = ("L1 rows", "FPGM")

KNOWN_FAILURES: tuple[KnownFailure, ...] = (
    KnownFailure(
        ("llm-compressor",),
        ("SparseGPT", "Wanda"),
        ("which it was told to leave whole",),
        "library bug",
        "llm-compressor names a Linear target 'lm_head.' (a trailing dot) when it matches its ignore list, so an "
        "exact module name never matches and the head is pruned too (results/conformance.md, one-shot pruners); "
        "with the regex its own recipes use, re:.*lm_head, it leaves the head whole: results/oneshot.md compares "
        "it that way",
    ),
    KnownFailure(
        TORCH_COPIES,
        ("magnitude",),
        ("is invalid for input of size", "the number of sizes provided"),
        "library limit",
        "WeightNormSparsifier builds its mask from the weight's last two dimensions (weight_norm_sparsifier.py, "
        "_make_tensor_mask / _make_block_mask: h, w = data.shape[-2:]), so a 4-D Conv2d weight fails; "
        "torch.ao.pruning's config=None configures nn.Linear only",
    ),
    KnownFailure(
        TORCH_COPIES,
        STRUCTURED_RULES,
        ("still contains FakeStructuredSparsity",),
        "contract difference",
        "prune() matches layer patterns (_get_default_structured_pruning_patterns): Conv2d -> AdaptiveAvgPool2d "
        "-> Flatten -> Linear exists only without an activation before the pool, and this CNN has a ReLU there",
    ),
    KnownFailure(
        TORCH_COPIES,
        STRUCTURED_RULES,
        ("TraceError",),
        "library limit",
        "prune() traces the model with torch.fx.symbolic_trace, which cannot trace transformers' Llama "
        "(data-dependent control flow); the zoo declares the same failure for every transformers model",
    ),
    KnownFailure(
        ("torch-pruning",),
        STRUCTURED_RULES,
        ("grouped-query attention",),
        "adapter refusal",
        "Torch-Pruning 1.6.1's DependencyGraph loops forever on grouped-query attention (its issue #527); the "
        "adapter refuses before tracing",
    ),
)


def classify(backend: str, rule: str, message: str) -> str:
    """``classification: explanation (message)`` for a known failure, ``unclassified: message`` otherwise."""
    for known in KNOWN_FAILURES:
        if known.matches(backend, rule, message):
            return f"{known.classification}: {known.explanation} ({message})"
    return f"unclassified: {message}"
