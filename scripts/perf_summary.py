"""Print the README's CPU performance tables from one perf results file.

Usage: ``python scripts/perf_summary.py results/cpu/perf.json [DEVICE] > /tmp/tables.md`` (DEVICE: the
cases of one device, cpu unless given), then paste the output over README's tables ("Reference vs
torch.ao.pruning on this machine"). Every number comes from that one file: ratios of medians of the same
run and mode, floors from the same run and mode's ``floor`` cases (``harness.floors``), peaks over the
weight's own bytes. Each ratio appears once per mode the run measured (``harness.perf_modes``: 1 thread,
default threads, default threads with every core busy), in that order, so one row reads across the three
ways a user runs it; for the WeightNorm step the worst rounds' ratio is printed too (the tail a busy
machine stretches). Issue #14's target for each row is printed beside it, so the table says what it was
measured against, not only what it measured. A file from before modes has one column per ratio.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

from prunebench.harness.floors import FLOOR_OPERATION, floor_cases, times_floor
from prunebench.harness.perf_modes import MODES
from prunebench.harness.results import Case, Results, load_results
from prunebench.harness.tables import format_seconds, median_ratio

PATTERNS = {"wn_unstructured": "WN 1x1", "wn_1x4": "WN 1x4", "wn_2of4": "WN 2:4", "nearly_diagonal": "NearlyDiagonal"}
TARGETS = {
    "step": "<= 0.1x torch, <= 8x floor, peak <= 1.5x",
    "squash_mask": "<= 1.0x torch, <= 3x floor",
    "prepare": "<= 1.0x torch",
}
NEARLY_DIAGONAL_STEP_TARGET = "<= 2x floor"
SPLIT_ROUNDS = 1.5
"""A median over this many times its fastest round is printed with that minimum: on a shared VM a large
weight's setup sometimes stalls (page reclaim), its few rounds split, and the median alone misleads."""
STRUCTURED = (
    ("prepare", "mlp64", "`prepare` mlp64", "<= 1.0x"),
    ("step", "mlp64", "`step` mlp64", "-"),
    ("prune", "mlp64", "`prune()` mlp64", "<= 0.1x"),
    ("prepare", "conv16", "`prepare` conv16", "<= 1.0x"),
    ("step", "conv16", "`step` conv16", "-"),
    ("prune", "conv16", "`prune()` conv16", "<= 0.1x"),
    ("prune_depth", "mlp16", "`prune()` 16 layers", "<= 0.1x, linear in depth"),
    ("prune_depth", "mlp64", "`prune()` 64 layers", "<= 0.1x, linear in depth"),
    ("prune_depth", "mlp256", "`prune()` 256 layers", "<= 0.1x, linear in depth"),
)
IDENTITY_IGNORES = ("mode", "threads", "contention")
"""Params that say how a case ran, not what it measured: a row is one case in every mode."""

Key = tuple[str, tuple[tuple[str, object], ...]]


def _identity(case: Case) -> Key:
    return (case.operation, tuple(sorted((k, v) for k, v in case.params.items() if k not in IDENTITY_IGNORES)))


class Lookup:
    """The cases of one run by (what they measured, mode, backend), with their floors."""

    def __init__(self, results: Results, device: str = "cpu") -> None:
        cases = [case for case in results.cases if case.device == device]
        if not cases:
            devices = sorted({case.device for case in results.cases})
            raise SystemExit(f"{results.source}: no case on device {device!r}; its devices are {devices}")
        self.cases = {(_identity(case), case.mode, case.backend): case for case in cases}
        self.floors = floor_cases(cases)
        found = {case.mode for case in cases}
        self.modes: list[str | None] = [name for name in MODES if name in found] + ([None] if None in found else [])

    def rows(self, operation: str, **params: object) -> list[Key]:
        """The distinct cases of ``operation`` whose params include ``params``, in a stable order."""
        keys = {key for key, _, _ in self.cases if key[0] == operation}
        return sorted(key for key in keys if all(dict(key[1]).get(name) == value for name, value in params.items()))

    def case(self, key: Key, mode: str | None, backend: str) -> Case | None:
        return self.cases.get((key, mode, backend))

    def per_mode(self, render: Callable[[str | None], str]) -> str:
        """``render(mode)`` for each mode of the run, joined as ``a / b / c``."""
        return " / ".join(render(mode) for mode in self.modes)

    def time(self, key: Key, backend: str) -> str:
        """The median in each mode, with the fastest round beside one over ``SPLIT_ROUNDS`` times it."""

        def one(mode: str | None) -> str:
            case = self.case(key, mode, backend)
            if case is None:
                return "-"
            fastest = case.stats["min"]
            split = fastest > 0 and case.median > SPLIT_ROUNDS * fastest
            return format_seconds(case.median) + (f" (min {format_seconds(fastest)})" if split else "")

        return self.per_mode(one)

    def ratio(self, key: Key, backend: str, baseline: str, bold: bool = True) -> str:
        def one(mode: str | None) -> str:
            value = median_ratio(self.case(key, mode, backend), self.case(key, mode, baseline))
            return "-" if value is None else (f"**{value:.3f}x**" if bold else f"{value:.3f}x")

        return self.per_mode(one)

    def worst_ratio(self, key: Key, backend: str, baseline: str) -> str:
        """The worst rounds' ratio in each mode: the tail, which a busy machine stretches first."""

        def one(mode: str | None) -> str:
            case, base = self.case(key, mode, backend), self.case(key, mode, baseline)
            if case is None or base is None or case.worst is None or not base.worst:
                return "-"
            return f"{case.worst / base.worst:.3f}x"

        return self.per_mode(one)

    def floor(self, key: Key, backend: str) -> str:
        def one(mode: str | None) -> str:
            value = times_floor(self.case(key, mode, backend), self.floors)
            return f"{value:.1f}x" if value is not None else "-"

        return self.per_mode(one)

    def peak_over_weight(self, key: Key, backend: str) -> str:
        """Peak extra memory over the weight's bytes, from the first mode that measured it (the same in every mode)."""
        case = next((found for mode in self.modes if (found := self.case(key, mode, backend))), None)
        weight_bytes = case.params.get("weight_bytes") if case else None
        if not case or case.peak_memory_bytes is None or not weight_bytes:
            return "-"
        return f"{case.peak_memory_bytes / weight_bytes:.2f}x"

    def mode_names(self) -> str:
        labels = {name: mode.label for name, mode in MODES.items()}
        return " / ".join(labels.get(mode, "this run") if mode else "this run" for mode in self.modes)


def sparsifier_table(lookup: Lookup) -> Iterator[str]:
    yield (
        "| operation | size | reference | torch | ref / torch | worst round ref / torch | issue #14 target | "
        "ref x floor | torch x floor | ref peak / weight | torch peak / weight |"
    )
    yield "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
    for operation in ("step", "squash_mask", "prepare"):
        for pattern, label in PATTERNS.items():
            for key in lookup.rows(operation, pattern=pattern):
                if "dtype" in dict(key[1]) or not any(lookup.case(key, mode, "reference") for mode in lookup.modes):
                    continue
                nearly_diagonal_step = pattern == "nearly_diagonal" and operation == "step"
                target = NEARLY_DIAGONAL_STEP_TARGET if nearly_diagonal_step else TARGETS[operation]
                yield (
                    f"| {label} `{operation}` | {dict(key[1])['size']}² | {lookup.time(key, 'reference')} | "
                    f"{lookup.time(key, 'torch')} | {lookup.ratio(key, 'reference', 'torch')} | "
                    f"{lookup.worst_ratio(key, 'reference', 'torch')} | {target} | "
                    f"{lookup.floor(key, 'reference')} | {lookup.floor(key, 'torch')} | "
                    f"{lookup.peak_over_weight(key, 'reference')} | {lookup.peak_over_weight(key, 'torch')} |"
                )
    for key in lookup.rows(FLOOR_OPERATION):
        params = dict(key[1])
        if "dtype" in params or not any(lookup.case(key, mode, "reference") for mode in lookup.modes):
            continue
        yield (
            f"| floor: {params['pass_name']} (noise check) | {params['size']}² | {lookup.time(key, 'reference')} | "
            f"{lookup.time(key, 'torch')} | {lookup.ratio(key, 'reference', 'torch', bold=False)} | - | ~1x "
            "| - | - | - | - |"
        )


def dtype_table(lookup: Lookup) -> Iterator[str]:
    """The WeightNorm step in the ``--perf-dtypes`` dtypes, against torch and that dtype's own read floor."""
    keys = [key for key in lookup.rows("step") if "dtype" in dict(key[1])]
    if not keys:
        return
    yield (
        "| step in dtype | size | reference | torch | ref / torch | worst round ref / torch | "
        "ref x floor (that dtype's read) | ref peak / weight | torch peak / weight |"
    )
    yield "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for key in keys:
        params = dict(key[1])
        yield (
            f"| {PATTERNS.get(params['pattern'], params['pattern'])} {params['dtype']} | {params['size']}² | "
            f"{lookup.time(key, 'reference')} | {lookup.time(key, 'torch')} | "
            f"{lookup.ratio(key, 'reference', 'torch')} | {lookup.worst_ratio(key, 'reference', 'torch')} | "
            f"{lookup.floor(key, 'reference')} | {lookup.peak_over_weight(key, 'reference')} | "
            f"{lookup.peak_over_weight(key, 'torch')} |"
        )


def structured_table(lookup: Lookup) -> Iterator[str]:
    yield "| structured | reference | torch | Torch-Pruning | ref / torch | TP / torch | target (ref / torch) |"
    yield "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    for operation, model, label, target in STRUCTURED:
        for key in lookup.rows(operation, model=model):
            yield (
                f"| {label} | {lookup.time(key, 'reference')} | {lookup.time(key, 'torch')} | "
                f"{lookup.time(key, 'torch-pruning')} | {lookup.ratio(key, 'reference', 'torch')} | "
                f"{lookup.ratio(key, 'torch-pruning', 'torch', bold=False)} | {target} |"
            )


def zoo_table(lookup: Lookup) -> Iterator[str]:
    yield "| zoo model: prepare + step + prune() | reference | Torch-Pruning | ref / TP | target |"
    yield "| --- | ---: | ---: | ---: | --- |"
    for key in lookup.rows("zoo_prune"):
        tp_time = lookup.time(key, "torch-pruning")
        tp_cell = tp_time if tp_time.strip("- /") else "fails (see its xfails)"
        yield (
            f"| {dict(key[1])['model']} | {lookup.time(key, 'reference')} | {tp_cell} | "
            f"{lookup.ratio(key, 'reference', 'torch-pruning')} | <= 0.2x |"
        )


def inference_table(lookup: Lookup) -> Iterator[str]:
    yield "| inference | reference | torch | reference vs its dense | torch vs its dense | FLOP ratio ref / torch |"
    yield "| --- | ---: | ---: | ---: | ---: | --- |"
    for model in ("mlp64", "conv16"):
        dense = lookup.rows("inference_dense", model=model)
        for kind in ("dense", "masked", "pruned"):
            for key in lookup.rows(f"inference_{kind}", model=model):
                flops = [_flop_ratio(lookup, key, backend) for backend in ("reference", "torch")]
                yield (
                    f"| {model} {kind} | {lookup.time(key, 'reference')} | {lookup.time(key, 'torch')} | "
                    f"{_over_dense(lookup, key, dense, 'reference')} | {_over_dense(lookup, key, dense, 'torch')} | "
                    f"{flops[0]} / {flops[1]} |"
                )


def _over_dense(lookup: Lookup, key: Key, dense: list[Key], backend: str) -> str:
    def one(mode: str | None) -> str:
        base = lookup.case(dense[0], mode, backend) if dense else None
        value = median_ratio(lookup.case(key, mode, backend), base)
        return f"{value:.2f}x" if value is not None else "-"

    return lookup.per_mode(one)


def _flop_ratio(lookup: Lookup, key: Key, backend: str) -> str:
    case = next((found for mode in lookup.modes if (found := lookup.case(key, mode, backend))), None)
    return "-" if case is None else f"{case.extra.get('flop_ratio', case.params.get('flop_ratio', 1)):.3g}"


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python scripts/perf_summary.py RESULTS.json [DEVICE (default cpu)]", file=sys.stderr)
        return 2
    lookup = Lookup(load_results(argv[1]), argv[2] if len(argv) == 3 else "cpu")
    if len(lookup.modes) > 1:
        print(f"Each cell with several values: {lookup.mode_names()}.\n")
    for table in (sparsifier_table, dtype_table, structured_table, zoo_table, inference_table):
        lines = list(table(lookup))
        if len(lines) > 2:  # rows beyond the header and its separator
            print("\n".join(lines))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
