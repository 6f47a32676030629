"""The zoo's published form: a Markdown table, its JSON, and a plot of MAC reduction against measured speedup."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prunebench.harness.atomic import write_text_atomic
from prunebench.harness.escaping import markdown_inline

from .full_size import ZOO_FULL
from .measure import BATCH_SIZES, SIZES, Measurement, as_json
from .models import ZOO_BY_NAME

RECORDS = {**ZOO_BY_NAME, **{record.name: record for record in ZOO_FULL}}

SIZE_HEADINGS = {
    "tiny": "## The zoo's tiny configs\n\nThe models the zoo suite checks (`suites/zoo/models.py`, params"
    " 19k-410k): their forwards take milliseconds, mostly per-op overhead.",
    "full": "## Real sizes\n\nResNet-50 at 224x224, BERT-base at 128 tokens and a decoder stack of"
    " Llama-3.2-1B's width (hidden 2048, intermediate 8192, 32 query / 8 key-value heads; 4 of its 16"
    " layers, vocabulary 32000 so the unpruned embedding and head keep their share of the MACs), random"
    " weights (`suites/zoo/full_size.py`). The decoder's batch-32 rounds use 16-token prompts (a"
    " 4096-token forward takes minutes on this machine); fewer timed rounds than the tiny configs"
    " (see `SIZES` in `suites/zoo/measure.py`).",
}

HOW_TO_READ = """\
**How to read it.** *params* and *MACs* are pruned / dense (0.50x = half). MACs are counted by
`torch.utils.flop_counter.FlopCounterMode` (every aten op, attention matmuls included; a MAC is two FLOPs)
at batch 1; *TP MACs* is Torch-Pruning's `count_ops_and_params` on the same models (per-layer hooks: it
misses matmuls between activations and adds norm/activation ops), shown where it differs from ours by
more than 5%. *speedup* is dense median latency / pruned median latency on CPU (interleaved rounds, after
warm-up). **Efficiency = speedup / MAC reduction**: 1.0 means the pruned model got exactly as much faster
as its arithmetic shrank; below 1.0 the time did not follow the MACs (tiny layers are bound by per-op
overhead, not arithmetic; narrow shapes use kernels less well); **slower** marks a pruned model that ran
slower than the dense one (*slower, within noise* where the two medians differ by less than an
interquartile range of either side's rounds). A backend that could not prune a model shows *fails:*
and why (the zoo suite's expected-failure files classify each one)."""


def _ratio(after: float, before: float) -> str:
    return f"{after / before:.2f}x"


def _tp_macs(m: Measurement) -> str:
    if m.tp_macs_dense is None or m.tp_macs_pruned is None:
        return "n/a"
    ours = m.macs_pruned / m.macs_dense
    theirs = m.tp_macs_pruned / m.tp_macs_dense
    return f"{theirs:.2f}x" + (" (differs)" if abs(theirs - ours) > 0.05 * ours else "")


def _timing_cells(m: Measurement) -> list[str]:
    """One cell per batch size of ``BATCH_SIZES``, empty where that batch was not timed."""
    timed = {t.batch: t for t in m.timings}
    cells = []
    for batch in BATCH_SIZES:
        t = timed.get(batch)
        if t is None:
            cells.append("")
            continue
        flag = (" slower, within noise" if t.within_noise else " **slower**") if t.slower else ""
        cells.append(f"{t.dense_ms:.2f} → {t.pruned_ms:.2f} ms: {t.speedup:.2f}x, eff {t.efficiency:.2f}{flag}")
    return cells


def markdown_table(results: Sequence[Measurement]) -> str:
    header = "| model | backend | sparsity | params | MACs | TP MACs | batch 1 | batch 32 |"
    lines = [header, "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for m in results:
        record = RECORDS.get(m.model)
        name = f"{m.model} ({record.couples})" if record else m.model
        start = f"| {markdown_inline(name)} | {markdown_inline(m.backend)} | {m.sparsity_level} |"
        if m.failure:
            lines.append(f"{start} fails: {markdown_inline(m.failure)} | | | | |")
            continue
        params = _ratio(m.params_pruned, m.params_dense)
        mac = _ratio(m.macs_pruned, m.macs_dense)
        lines.append(f"{start} {params} | {mac} | {_tp_macs(m)} | " + " | ".join(_timing_cells(m)) + " |")
    return "\n".join(lines)


def _tables_by_size(results: Sequence[Measurement]) -> list[str]:
    """A heading and a table for each zoo size measured, in ``SIZES`` order."""
    parts = []
    for size in SIZES:
        rows = [m for m in results if m.size == size]
        if rows:
            parts += [SIZE_HEADINGS[size], markdown_table(rows)]
    return parts


def mac_cross_check(results: Sequence[Measurement]) -> str:
    """Dense MACs per model by both counters, and how far Torch-Pruning's count is from torch's."""
    lines = [
        "| model | MACs (FlopCounterMode) | MACs (Torch-Pruning) | difference |",
        "| --- | ---: | ---: | ---: |",
    ]
    seen: set[str] = set()
    for m in results:
        if m.failure or m.model in seen or m.tp_macs_dense is None:
            continue
        seen.add(m.model)
        difference = (m.tp_macs_dense - m.macs_dense) / m.macs_dense
        lines.append(f"| {markdown_inline(m.model)} | {m.macs_dense:,} | {m.tp_macs_dense:,} | {difference:+.1%} |")
    return "\n".join(lines)


def _environment_line(environment: dict[str, object]) -> str:
    keys = (
        "cpu_model",
        "cpu_count",
        "torch_threads",
        "torch",
        "transformers",
        "backends",
        "python",
        "load_average",
        "load_average_end",
        "git_revision",
    )
    return "; ".join(f"{key} {markdown_inline(environment.get(key))}" for key in keys)


def plot(results: Sequence[Measurement], path: Path) -> Path:
    """MAC reduction (x) against measured speedup (y), one colour per backend, one marker per batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 5))
    markers = {1: "o", 32: "s"}
    backends = sorted({m.backend for m in results if not m.failure})
    for index, backend in enumerate(backends):
        for batch, marker in markers.items():
            points = [
                (m.mac_reduction, t.speedup)
                for m in results
                if m.backend == backend and not m.failure
                for t in m.timings
                if t.batch == batch
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                axes.scatter(xs, ys, marker=marker, color=f"C{index}", label=f"{backend}, batch {batch}")
    top = max([m.mac_reduction for m in results if not m.failure] + [2.0])
    axes.plot([1, top], [1, top], "k--", linewidth=0.8, label="efficiency 1 (speedup = MAC reduction)")
    axes.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    axes.set_xlabel("MAC reduction (dense MACs / pruned MACs)")
    axes.set_ylabel("measured speedup on CPU (dense / pruned latency)")
    axes.set_title("What structured pruning buys on the zoo")
    axes.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def write_report(results: Sequence[Measurement], environment: dict[str, object], markdown: Path) -> list[Path]:
    """``markdown`` (the table), and beside it ``<stem>/zoo.json`` and ``<stem>/speedup_vs_macs.png``."""
    directory = markdown.with_suffix("")
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "zoo.json"
    write_text_atomic(json_path, as_json(results, environment))
    plot_path = plot(results, directory / "speedup_vs_macs.png")
    text = "\n\n".join(
        [
            "# The zoo: what structured pruning buys on real architectures",
            "Reproduce: `python -m prunebench.suites.zoo.measure --backend=reference,torch,torch-pruning"
            " --zoo-size=tiny,full --out=results/zoo.md` (the zoo extra installed: `pip install"
            " 'prunebench[zoo]'`). Every Linear / Conv2d but the head is pruned with the backend's"
            " `SaliencyPruner`.",
            f"Machine: {_environment_line(environment)}.",
            HOW_TO_READ,
            *_tables_by_size(results),
            "**The two MAC counters, dense models at batch 1.** Torch-Pruning's `count_ops_and_params` hooks"
            " modules (`torch_pruning/utils/op_counter.py`): it misses matmuls between activations, so it counts"
            " less where attention multiplies them (ViT, BERT, Llama), and it adds per-element work of BatchNorm,"
            " ReLU, pooling and LayerNorm hooks, which `FlopCounterMode` does not count, so more for the CNNs.",
            mac_cross_check(results),
            f"![MAC reduction vs measured speedup]({directory.name}/{plot_path.name})",
        ]
    )
    write_text_atomic(markdown, text + "\n")
    return [markdown, json_path, plot_path]
