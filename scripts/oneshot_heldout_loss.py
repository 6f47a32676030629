"""Held-out loss of a tiny trained Llama-style language model after one-shot pruning, per method and pattern.

A self-contained measurement (not the quality suite): a byte-level ``LlamaForCausalLM`` (2 decoder layers,
hidden 128, MLP 256, grouped-query attention 4 / 2 heads) is trained, once per seed, on the English text
Python ships (``pydoc_data.topics``, the first 90%), then pruned by every one-shot pruner of the given
backends (``harness.oneshot``) at 50% and 2:4, every Linear but ``lm_head``, from 16 calibration sequences
of the training text; the loss is measured on the last 10%. Nothing is downloaded.

    python scripts/oneshot_heldout_loss.py --backend=reference,llm-compressor --seeds=0,1,2

prints (or writes to ``--out``) a Markdown page: a table of held-out loss in nats per byte and its increase over
the dense model of the same seed, each as mean +- standard deviation over the seeds, and the perplexity of the mean
loss, dense first; then issue #23's claims (reference SparseGPT against llm-compressor's and both against one-shot
magnitude), each judged seed by seed by the quality suite's rule.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import math
import shlex
import statistics
import sys
import time
from collections.abc import Iterator

import torch
from prunebench.harness.atomic import write_text_atomic
from prunebench.harness.backend import resolve_backends
from prunebench.harness.oneshot import OneShotPruner, SparsityPattern, oneshot_pruners
from prunebench.suites.oneshot_models import tiny_llama
from prunebench.suites.quality.stats import BETTER, WORSE, paired_difference, verdict
from torch import nn

PATTERNS = (SparsityPattern.unstructured(0.5), SparsityPattern.n_of_m(2, 4))
SEQUENCE = 64
"""Bytes per training, calibration and evaluation sequence."""
BATCH = 32
STEPS = 800
LEARNING_RATE = 3e-3
CALIBRATION_SEQUENCES = 16
HELD_OUT_SEQUENCES = 256
IGNORE = ("lm_head",)
LLM_COMPRESSOR_IGNORE = ("re:.*lm_head",)
"""llm-compressor does not honour the exact name ``lm_head`` in its ignore list (results/conformance.md, "One-shot
pruners"); its pruners run twice, with the name as every other backend gets it and with the regex its own recipes
use, so that its rows compare like with like."""


def corpus() -> tuple[torch.Tensor, str]:
    """Python's bundled documentation topics as bytes, and the text's sha256."""
    from pydoc_data.topics import topics

    text = "\n".join(topics[key] for key in sorted(topics)).encode("utf-8")
    return torch.tensor(list(text), dtype=torch.long), hashlib.sha256(text).hexdigest()


def build_model() -> nn.Module:
    return tiny_llama(vocab_size=256, hidden_size=128, intermediate_size=256, positions=SEQUENCE)


def windows(data: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, len(data) - SEQUENCE, (count,), generator=generator)
    return torch.stack([data[start : start + SEQUENCE] for start in starts.tolist()])


def train(train_data: torch.Tensor, seed: int, steps: int) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = windows(train_data, BATCH, generator)
        loss = model(batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def held_out_loss(model: nn.Module, held_out: torch.Tensor) -> float:
    """Mean next-byte cross-entropy (nats) over consecutive windows of the held-out text."""
    sequences = held_out[: HELD_OUT_SEQUENCES * SEQUENCE].reshape(-1, SEQUENCE)
    with torch.no_grad():
        losses = [float(model(chunk, labels=chunk).loss) for chunk in sequences.split(BATCH)]
    return statistics.fmean(losses)


def pruners(backends: str) -> Iterator[tuple[str, OneShotPruner, tuple[str, ...]]]:
    """(row label, pruner, ignore list) for every one-shot pruner of the backends."""
    for backend in resolve_backends(backends):
        for pruner in oneshot_pruners(backend):
            yield backend.name, pruner, IGNORE
            if backend.name == "llm-compressor":
                yield f"{backend.name}, ignore {LLM_COMPRESSOR_IGNORE[0]}", pruner, LLM_COMPRESSOR_IGNORE


def measure(backends: str, seeds: list[int], steps: int = STEPS) -> dict[tuple[str, str, str], list[float]]:
    data, digest = corpus()
    split = int(0.9 * len(data))
    train_data, held_out = data[:split], data[split:]
    print(f"corpus: pydoc_data.topics, {len(data)} bytes, sha256 {digest[:16]}", file=sys.stderr)
    found = list(pruners(backends))
    results: dict[tuple[str, str, str], list[float]] = {}
    for seed in seeds:
        started = time.perf_counter()
        dense = train(train_data, seed, steps)
        results.setdefault(("dense", "-", "-"), []).append(held_out_loss(dense, held_out))
        print(f"seed {seed}: trained in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        calibration = list(windows(train_data, CALIBRATION_SEQUENCES, torch.Generator().manual_seed(seed)).split(4))
        for backend, pruner, ignore in found:
            for pattern in PATTERNS:
                model = copy.deepcopy(dense)
                pruner.prune(model, calibration, pattern, ignore)
                results.setdefault((backend, pruner.name, pattern.label), []).append(held_out_loss(model, held_out))
    return results


def mean_and_spread(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {spread:.4f}"


def table(results: dict[tuple[str, str, str], list[float]]) -> str:
    """One row per pruner and pattern: the loss over seeds, and its increase over the dense model of the same
    seed (paired: the seeds' models differ more from each other than pruning changes them)."""
    dense = results[("dense", "-", "-")]
    lines = [
        "| backend | pruner | pattern | held-out loss (nats/byte) | increase over dense, paired | perplexity |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for (backend, pruner, pattern), losses in results.items():
        increase = [loss - base for loss, base in zip(losses, dense, strict=True)]
        perplexity = math.exp(statistics.fmean(losses))
        lines.append(
            f"| {backend} | {pruner} | {pattern} | {mean_and_spread(losses)} | {mean_and_spread(increase)} | "
            f"{perplexity:.3f} |"
        )
    return "\n".join(lines)


SPARSEGPT_CLAIMS = (
    # (claim, row a, row b, what a must be against b): rows are (backend label, pruner name)
    (
        "reference SparseGPT no worse than llm-compressor's (its lm_head ignored by regex, like for like)",
        ("reference", "SparseGPTSparsifier"),
        (f"llm-compressor, ignore {LLM_COMPRESSOR_IGNORE[0]}", "SparseGPTModifier"),
        "not worse",
    ),
    (
        "reference SparseGPT beats one-shot magnitude",
        ("reference", "SparseGPTSparsifier"),
        ("reference", "OneShotMagnitudeSparsifier"),
        BETTER,
    ),
    (
        "llm-compressor's SparseGPT beats one-shot magnitude",
        (f"llm-compressor, ignore {LLM_COMPRESSOR_IGNORE[0]}", "SparseGPTModifier"),
        ("reference", "OneShotMagnitudeSparsifier"),
        BETTER,
    ),
)
"""Issue #23's claims on this model, each judged seed by seed by the quality suite's rule (``suites.quality.stats``:
different only beyond the spread of the paired differences)."""


def claims(results: dict[tuple[str, str, str], list[float]], seeds: list[int]) -> str:
    """One line per claim and pattern: holds, does not hold, or not measured, with the paired difference."""
    lines = ["| claim | pattern | a - b (loss, paired) | verdict | holds |", "| --- | --- | ---: | --- | --- |"]
    for claim, first, second, wanted in SPARSEGPT_CLAIMS:
        for pattern in (p.label for p in PATTERNS):
            a, b = results.get((*first, pattern)), results.get((*second, pattern))
            if a is None or b is None:
                lines.append(f"| {claim} | {pattern} | - | - | not measured |")
                continue
            by_seed_a, by_seed_b = dict(zip(seeds, a, strict=True)), dict(zip(seeds, b, strict=True))
            found = verdict(by_seed_a, by_seed_b, higher_is_better=False)
            holds = found != WORSE if wanted == "not worse" else found == wanted
            difference = paired_difference(by_seed_a, by_seed_b)
            assert difference is not None  # the same seeds on both sides
            shown = f"{difference.mean:+.4f} ± {difference.std:.4f}"
            lines.append(f"| {claim} | {pattern} | {shown} | {found} | {'**yes**' if holds else 'no'} |")
    return "\n".join(lines)


def document(results: dict[tuple[str, str, str], list[float]], seeds: list[int], command: str) -> str:
    """The published page: what was measured and how, the table, the claims."""
    return f"""# One-shot pruning of a small language model: held-out loss

Generated by `{command}` (`scripts/oneshot_heldout_loss.py`; its docstring gives the model, the corpus and the
calibration). A byte-level Llama (2 decoder layers, hidden 128, MLP 256, 4 / 2 heads) is trained once per seed on
the first 90% of the English text Python ships (`pydoc_data.topics`), then every one-shot pruner prunes every
Linear but `lm_head` at 50% and 2:4 from {CALIBRATION_SEQUENCES} calibration sequences of {SEQUENCE} bytes; the
loss is the next-byte cross-entropy on the last 10% ({HELD_OUT_SEQUENCES} windows). Seeds {", ".join(map(str, seeds))};
mean ± standard deviation over them. llm-compressor runs twice: with `lm_head` in its `ignore` as every other
backend gets it (which it does not honour: it prunes the head too, results/conformance.md), and with the regex its
own recipes use.

{table(results)}

## Claims (seed by seed)

{claims(results, seeds)}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="reference", help="backends whose one-shot pruners run (comma-separated)")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (comma-separated)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps per seed (default {STEPS})")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared machine, "
        "threads that spin while others run slow tiny models down many times over)",
    )
    parser.add_argument("--out", help="write the page here (atomically), not to stdout, where libraries log")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    command = "python scripts/oneshot_heldout_loss.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = document(measure(args.backend, seeds, args.steps), seeds, command.strip())
    if args.out:
        write_text_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
