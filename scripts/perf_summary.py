"""Print the README's CPU performance tables from one perf results file.

Usage: ``python scripts/perf_summary.py results/cpu/perf.json [DEVICE] > /tmp/tables.md`` (DEVICE: the
cases of one device, cpu unless given), then paste the output
over README's tables ("Reference vs torch.ao.pruning on this machine"). Every number comes from that
one file: ratios of medians of the same run, floors from the same run's ``floor`` cases
(``harness.floors``), peaks over the weight's own bytes. Issue #14's target for each row is printed
beside it so the table says what it was measured against, not only what it measured.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from prunebench.harness.floors import floor_cases, times_floor
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
    ("structured_operation[mlp64-prepare]", "`prepare` mlp64", "<= 1.0x"),
    ("structured_operation[mlp64-step]", "`step` mlp64", "-"),
    ("structured_operation[mlp64-prune]", "`prune()` mlp64", "<= 0.1x"),
    ("structured_operation[conv16-prepare]", "`prepare` conv16", "<= 1.0x"),
    ("structured_operation[conv16-step]", "`step` conv16", "-"),
    ("structured_operation[conv16-prune]", "`prune()` conv16", "<= 0.1x"),
    ("prune_depth_scaling[mlp16]", "`prune()` 16 layers", "<= 0.1x, linear in depth"),
    ("prune_depth_scaling[mlp64]", "`prune()` 64 layers", "<= 0.1x, linear in depth"),
    ("prune_depth_scaling[mlp256]", "`prune()` 256 layers", "<= 0.1x, linear in depth"),
)


class Lookup:
    """The cases of one run by (id, backend), with their floors."""

    def __init__(self, results: Results, device: str = "cpu") -> None:
        cases = [case for case in results.cases if case.device == device]
        if not cases:
            devices = sorted({case.device for case in results.cases})
            raise SystemExit(f"{results.source}: no case on device {device!r}; its devices are {devices}")
        self.cases = {(case.id, case.backend): case for case in cases}
        self.floors = floor_cases(cases)
        self.environment = results.environment

    def case(self, case_id: str, backend: str) -> Case | None:
        return self.cases.get((case_id, backend))

    def time(self, case_id: str, backend: str) -> str:
        """The median, with the fastest round beside it when the median is over ``SPLIT_ROUNDS`` times it."""
        case = self.case(case_id, backend)
        if case is None:
            return "-"
        fastest = case.stats["min"]
        split = fastest > 0 and case.median > SPLIT_ROUNDS * fastest
        return format_seconds(case.median) + (f" (min {format_seconds(fastest)})" if split else "")

    def ratio(self, case_id: str, backend: str, baseline: str, bold: bool = True) -> str:
        value = median_ratio(self.case(case_id, backend), self.case(case_id, baseline))
        if value is None:
            return "-"
        return f"**{value:.3f}x**" if bold else f"{value:.3f}x"

    def ids_of(self, operation: str, **params: object) -> list[str]:
        """Sorted ids of the cases of ``operation`` whose params include ``params`` (any backend)."""
        matching = {
            case.id
            for case in self.cases.values()
            if case.operation == operation and all(case.params.get(key) == value for key, value in params.items())
        }
        return sorted(matching)

    def params(self, case_id: str) -> dict:
        """The params of ``case_id`` (the same for every backend: they are the case's identity)."""
        return next(case.params for (found, _), case in self.cases.items() if found == case_id)

    def floor(self, case_id: str, backend: str) -> str:
        value = times_floor(self.case(case_id, backend), self.floors)
        return f"{value:.1f}x" if value is not None else "-"

    def peak_over_weight(self, case_id: str, backend: str) -> str:
        case = self.case(case_id, backend)
        weight_bytes = case.params.get("weight_bytes") if case else None
        if not case or case.peak_memory_bytes is None or not weight_bytes:
            return "-"
        return f"{case.peak_memory_bytes / weight_bytes:.2f}x"


def _sizes(lookup: Lookup) -> list[int]:
    return sorted({case.params["size"] for case in lookup.cases.values() if isinstance(case.params.get("size"), int)})


def sparsifier_table(lookup: Lookup) -> Iterator[str]:
    yield (
        "| operation | size | reference | torch | ref / torch | issue #14 target | ref x floor | torch x floor "
        "| ref peak / weight | torch peak / weight |"
    )
    yield "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
    for operation in ("step", "squash_mask", "prepare"):
        for pattern, label in PATTERNS.items():
            for size in _sizes(lookup):
                case_id = f"sparsifier_operation[{size}x{size}-{pattern}-{operation}]"
                if lookup.case(case_id, "reference") is None:
                    continue
                nearly_diagonal_step = pattern == "nearly_diagonal" and operation == "step"
                target = NEARLY_DIAGONAL_STEP_TARGET if nearly_diagonal_step else TARGETS[operation]
                yield (
                    f"| {label} `{operation}` | {size}² | {lookup.time(case_id, 'reference')} | "
                    f"{lookup.time(case_id, 'torch')} | {lookup.ratio(case_id, 'reference', 'torch')} | {target} | "
                    f"{lookup.floor(case_id, 'reference')} | {lookup.floor(case_id, 'torch')} | "
                    f"{lookup.peak_over_weight(case_id, 'reference')} | {lookup.peak_over_weight(case_id, 'torch')} |"
                )
    for size in _sizes(lookup):
        for pass_name in ("read", "multiply"):
            case_id = f"bandwidth_floor[{size}x{size}-{pass_name}]"
            if lookup.case(case_id, "reference") is None:
                continue
            yield (
                f"| floor: {pass_name} (noise check) | {size}² | {lookup.time(case_id, 'reference')} | "
                f"{lookup.time(case_id, 'torch')} | {lookup.ratio(case_id, 'reference', 'torch', bold=False)} | ~1x "
                "| - | - | - | - |"
            )


def dtype_table(lookup: Lookup) -> Iterator[str]:
    """The WeightNorm step in the ``--perf-dtypes`` dtypes, against torch and that dtype's own read floor."""
    ids = [case_id for case_id in lookup.ids_of("step") if "dtype" in lookup.params(case_id)]
    if not ids:
        return
    yield (
        "| step in dtype | size | reference | torch | ref / torch | ref x floor (that dtype's read) "
        "| ref peak / weight | torch peak / weight |"
    )
    yield "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for case_id in ids:
        params = lookup.params(case_id)
        pattern, dtype, side = params["pattern"], params["dtype"], params["size"]
        yield (
            f"| {PATTERNS.get(pattern, pattern)} {dtype} | {side}² | {lookup.time(case_id, 'reference')} | "
            f"{lookup.time(case_id, 'torch')} | {lookup.ratio(case_id, 'reference', 'torch')} | "
            f"{lookup.floor(case_id, 'reference')} | {lookup.peak_over_weight(case_id, 'reference')} | "
            f"{lookup.peak_over_weight(case_id, 'torch')} |"
        )


def structured_table(lookup: Lookup) -> Iterator[str]:
    yield "| structured | reference | torch | Torch-Pruning | ref / torch | TP / torch | target (ref / torch) |"
    yield "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    for case_id, label, target in STRUCTURED:
        if lookup.case(case_id, "reference") is None:
            continue
        yield (
            f"| {label} | {lookup.time(case_id, 'reference')} | {lookup.time(case_id, 'torch')} | "
            f"{lookup.time(case_id, 'torch-pruning')} | {lookup.ratio(case_id, 'reference', 'torch')} | "
            f"{lookup.ratio(case_id, 'torch-pruning', 'torch', bold=False)} | {target} |"
        )


def zoo_table(lookup: Lookup) -> Iterator[str]:
    yield "| zoo model: prepare + step + prune() | reference | Torch-Pruning | ref / TP | target |"
    yield "| --- | ---: | ---: | ---: | --- |"
    for case_id in lookup.ids_of("zoo_prune"):
        name = lookup.params(case_id)["model"]
        tp_time = lookup.time(case_id, "torch-pruning")
        tp_cell = tp_time if tp_time != "-" else "fails (see its xfails)"
        yield (
            f"| {name} | {lookup.time(case_id, 'reference')} | {tp_cell} | "
            f"{lookup.ratio(case_id, 'reference', 'torch-pruning')} | <= 0.2x |"
        )


def inference_table(lookup: Lookup) -> Iterator[str]:
    yield "| inference | reference | torch | reference vs its dense | torch vs its dense | FLOP ratio ref / torch |"
    yield "| --- | ---: | ---: | ---: | ---: | --- |"
    for model in ("mlp64", "conv16"):
        dense_id = f"inference[{model}-dense]"
        for kind in ("dense", "masked", "pruned"):
            case_id = f"inference[{model}-{kind}]"
            reference, torch_case = lookup.case(case_id, "reference"), lookup.case(case_id, "torch")
            if reference is None or torch_case is None:
                continue
            yield (
                f"| {model} {kind} | {lookup.time(case_id, 'reference')} | {lookup.time(case_id, 'torch')} | "
                f"{_over_dense(lookup, case_id, dense_id, 'reference')} | "
                f"{_over_dense(lookup, case_id, dense_id, 'torch')} | "
                f"{_flop_ratio(reference)} / {_flop_ratio(torch_case)} |"
            )


def _over_dense(lookup: Lookup, case_id: str, dense_id: str, backend: str) -> str:
    return _ratio_of(lookup.case(case_id, backend), lookup.case(dense_id, backend))


def _ratio_of(case: Case | None, base: Case | None) -> str:
    value = median_ratio(case, base)
    return f"{value:.2f}x" if value is not None else "-"


def _flop_ratio(case: Case) -> str:
    return f"{case.extra.get('flop_ratio', case.params.get('flop_ratio', 1)):.3g}"


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python scripts/perf_summary.py RESULTS.json [DEVICE (default cpu)]", file=sys.stderr)
        return 2
    lookup = Lookup(load_results(argv[1]), argv[2] if len(argv) == 3 else "cpu")
    for table in (sparsifier_table, dtype_table, structured_table, zoo_table, inference_table):
        lines = list(table(lookup))
        if len(lines) > 2:  # rows beyond the header and its separator
            print("\n".join(lines))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
