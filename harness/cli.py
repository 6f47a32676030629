"""The ``prunebench`` command: run suites, list backends, render tables and plots, compare results."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from prunebench.suites.perf.conftest import DEFAULT_MIN_TIME, DEFAULT_ROUNDS, DEFAULT_SIZES, DEFAULT_THREADS
from prunebench.suites.quality.command import add_arguments as add_quality_arguments

from . import run_status
from .atomic import write_text_atomic
from .errors import UsageError
from .names import DEFAULT_BACKEND
from .process_tree import RunInterruptedError, run_process_tree
from .reproduction import DEFAULT_CAP
from .results import ResultsError, load_results

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"
USAGE_EXIT = 4
"""Exit status of a usage error (bad class, option or value), as pytest's own."""
RESULTS_EXIT = 2
"""Exit status of an unreadable or invalid results file."""
INCOMPLETE_EXIT = 3
"""Exit status of a run that did not finish (its process died, or it stopped before its last test)."""
INCONCLUSIVE_EXIT = 6
"""Exit status of ``compare`` when cases got slower but the load or their own noise forbids a verdict."""
IMPORT_TIMEOUT_HELP = "seconds a backend's import may take (default: $PRUNEBENCH_IMPORT_TIMEOUT or 60; 0: no limit)"
REPRODUCE_HELP = (
    f"rerun at most N failures alone before the report is written, and replay those that pass alone after the "
    f"tests before them (default: {DEFAULT_CAP}; 0: none)"
)


def _load_all(paths: Sequence[str]) -> list:
    return [load_results(path) for path in paths]


def cmd_table(args: argparse.Namespace) -> int:
    from .tables import render_table

    text = render_table(_load_all(args.results), args.format, args.by, args.baseline)
    if args.output:
        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_results
    from .tables import parse_baselines

    runs = _load_all(args.results)
    preferred = parse_baselines(args.baseline)  # fallbacks as in tables: each group against the first it has
    baselines = preferred or sorted({case.backend for run in runs for case in run.cases})[:1]
    for path in plot_results(runs, args.output, baselines):
        print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_results, parse_threshold

    threshold = parse_threshold(args.threshold)  # a usage error before any file is read
    news = [load_results(path) for path in args.new]
    comparison = compare_results(load_results(args.base), news, threshold, args.relative_to)
    for warning in comparison.warnings:
        print(f"prunebench: warning: {warning}", file=sys.stderr)
    print(comparison.render())
    if comparison.regressions:
        return 1
    return INCONCLUSIVE_EXIT if comparison.inconclusive else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from .merge import merge_results
    from .results import write_results

    outcome = merge_results(_load_all(args.results))
    for conflict in outcome.conflicts:
        print(f"warning: {conflict}", file=sys.stderr)
    path = write_results(outcome.results, args.output)
    print(f"merged {len(args.results)} files ({len(outcome.results.cases)} cases) into {path}")
    return 1 if outcome.conflicts and args.strict else 0


def cmd_backends(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from .api import API_NAMES
    from .backend import known_backend_names, resolve_backend

    rows = []
    for name in known_backend_names():
        try:
            backend = resolve_backend(name)
        except UsageError as error:
            rows.append([name, "unavailable", str(error), ""])
            continue
        missing = [n for n in API_NAMES if not backend.provides(n)]
        rows.append([name, backend.version, backend.source, ", ".join(missing) or "none"])
    print(tabulate(rows, headers=["backend", "version", "source", "missing names"]))
    return 0


def _pytest(arguments: list[str], report: Path | None = None) -> int:
    """Run pytest as a child whose whole process tree SIGINT / SIGTERM stop (``harness.process_tree``);
    after a stop signal, ``report`` is marked interrupted and ``RunInterruptedError`` is raised."""
    command = [sys.executable, "-m", "pytest", *arguments]
    print("$", " ".join(command), flush=True)
    try:
        return run_process_tree(command)
    except RunInterruptedError as stop:
        if report is not None:
            run_status.interrupt(report, str(stop))
        raise


def _matrix_options(args: argparse.Namespace, with_backend: bool = True) -> list[str]:
    given = with_backend and getattr(args, "backend", None) is not None
    options = [f"--backend={args.backend}"] if given else []
    options += [f"--device={args.device}"] if args.device else []
    options += [f"--dtype={args.dtype}"] if args.dtype else []
    options += [f"--xfails={path}" for path in args.xfails]
    options += [f"-k={args.keyword}"] if args.keyword else []
    options += [f"--import-timeout={args.import_timeout}"] if args.import_timeout is not None else []
    return options + list(args.pytest_args)


def _run_conformance(args: argparse.Namespace, report: Path, zoo: bool = True, rest: bool = True) -> int:
    """The conformance suites, each backend in lanes of its own (``harness.lanes``): the suites but the zoo
    (``rest``) and the zoo of real architectures (``zoo``)."""
    from .conformance_run import run_conformance
    from .lanes import plan_lanes

    names = [name.strip() for name in args.backend.split(",") if name.strip()]
    lanes = plan_lanes(report, [(name, (f"--backend={name}",)) for name in names], SUITES_DIR, zoo, rest)
    common = _matrix_options(args, with_backend=False)
    return run_conformance(lanes, args.workers, common, report, _matrix_only(args), args.reproduce)


def _matrix_only(args: argparse.Namespace) -> list[str]:
    """The device and dtype options as given: what a replay of the run's tests needs to collect them."""
    return [f"--device={args.device}"] * bool(args.device) + [f"--dtype={args.dtype}"] * bool(args.dtype)


def _run_perf(args: argparse.Namespace, report: Path) -> int:
    from .benchmark_import import results_from_benchmark_json
    from .results import write_results
    from .tables import render_table

    for stale in ("perf.json", "perf.md"):  # a run that stops early must not leave the previous one's
        (report / stale).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "benchmark.json"
        options = [str(SUITES_DIR / "perf"), "-p", "no:xdist", "-p", "no:cacheprovider", *_matrix_options(args)]
        options += [f"--perf-sizes={args.perf_sizes}"] if args.perf_sizes else []
        options += [f"--perf-rounds={args.perf_rounds}"] if args.perf_rounds is not None else []
        options += [f"--perf-min-time={args.perf_min_time}"] if args.perf_min_time is not None else []
        options += [f"--perf-threads={args.perf_threads}"] if args.perf_threads else []
        options += ["--perf-contention"] if args.perf_contention else []
        options += [f"--benchmark-json={raw}"]
        status = _pytest(options, report)
        if not raw.exists():
            return status or 1
        results = results_from_benchmark_json(raw)
    path = write_results(results, report / "perf.json")
    table = render_table([results], "md", "backend", args.baseline)
    write_text_atomic(report / "perf.md", table)
    print(f"results: {path}\ntable: {report / 'perf.md'}")
    return status


def _expand_builtins(args: argparse.Namespace) -> None:
    """``builtins`` in ``--backend`` (alone or in a list, e.g. ``builtins,my_pruner``): every built-in
    backend whose library is installed, in its place; the unavailable ones are named, not fatal."""
    names = [name.strip() for name in args.backend.split(",")]
    if "builtins" not in names:
        return
    from .backend import available_builtins

    available, unavailable = available_builtins()
    for name, why in unavailable.items():
        print(f"prunebench: skipping built-in backend {name!r}: {why}", file=sys.stderr)
    expanded: list[str] = []
    for name in names:
        for item in available if name == "builtins" else [name]:
            if item not in expanded:
                expanded.append(item)
    args.backend = ",".join(expanded)


def cmd_quality(args: argparse.Namespace) -> int:
    """Which pruner is better: the quality suite's grid (``suites/quality``), its report, JSON and plots."""
    from prunebench.suites.quality.command import run

    return run(args)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate one class: the generic checks (and with ``--like``, that rule's suites) against it."""
    from .backend import check_backend

    _limit_imports(args)
    sys.path.insert(0, str(Path.cwd()))  # as `python -m pytest` does: MODULE may be a file of the user's project
    from .conformance_run import run_conformance
    from .lanes import Lane

    backend = check_backend(args.spec, args.kwargs, args.like)  # usage errors now, before pytest starts
    report = _report_directory(args.report) if args.report else None
    _check_matrix(args)
    if report is None:  # the run's exit status and reruns read its report: a kept temporary one
        report = Path(tempfile.mkdtemp(prefix="prunebench-check-"))
        print(f"prunebench: report (no --report given): {report}")
        created = True
    else:
        created = _make_report_directory(report)
    lane = Lane(backend.name, backend.options, (str(SUITES_DIR),), report / "lanes" / "1-check")
    status = run_conformance([lane], args.workers, _matrix_options(args), report, _matrix_only(args), args.reproduce)
    _discard_after_usage_error(report, created, status)
    if status == 5:
        print(f"prunebench: error: no check ran for {args.spec}", file=sys.stderr)
        return 1
    return status


def _limit_imports(args: argparse.Namespace) -> None:
    """``--import-timeout`` for the imports made here (``builtins``, ``check``'s class) and in pytest."""
    from .import_limit import IMPORT_TIMEOUT_OPTION, configure, parse_timeout

    configure(parse_timeout(args.import_timeout, IMPORT_TIMEOUT_OPTION))


def _check_matrix(args: argparse.Namespace) -> None:
    """Devices and dtypes are checked before pytest starts: a usage error leaves nothing behind."""
    from .matrix import parse_devices, parse_dtypes

    if args.device is not None:
        parse_devices(args.device)
    if args.dtype is not None:
        parse_dtypes(args.dtype)


def cmd_run(args: argparse.Namespace) -> int:
    from .backend import require_backend_names

    _limit_imports(args)
    require_backend_names(args.backend)
    _expand_builtins(args)
    report = _report_directory(args.report)
    _check_matrix(args)
    created = _make_report_directory(report)
    status = 0
    if args.suite in ("conformance", "all"):
        status = _run_conformance(args, report) or status
    if args.suite == "zoo":
        status = _run_conformance(args, report, rest=False) or status
    if args.suite == "core":
        status = _run_conformance(args, report, zoo=False) or status
    if args.suite in ("perf", "all"):
        status = _run_perf(args, report) or status
    _discard_after_usage_error(report, created, status)
    return status


def _make_report_directory(report: Path) -> bool:
    """Create the report directory; whether this run created it (and may take it away again)."""
    created = not report.exists()
    report.mkdir(parents=True, exist_ok=True)
    return created


def _discard_after_usage_error(report: Path, created: bool, status: int) -> None:
    """A run that stopped at a usage error (pytest found a bad option or backend) leaves nothing behind: the
    report directory it created goes, with whatever the aborted child wrote into it."""
    if status == USAGE_EXIT and created and report.is_dir():
        shutil.rmtree(report, ignore_errors=True)


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors exiting ``USAGE_EXIT`` like every other usage error of the command."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_EXIT, f"prunebench: error: {message}\n")


def _report_directory(value: str) -> Path:
    """A report directory that can be written: not a file, not under a file, writable where it exists."""
    path = Path(value)
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if existing.exists() and not existing.is_dir():
        raise UsageError(f"--report {value!r}: {str(existing)!r} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--report {value!r}: {str(existing)!r} is not writable")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prunebench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the conformance and/or performance suites against a backend")
    run.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        help=f"backend(s), comma-separated, or 'builtins' for every installed built-in (default: {DEFAULT_BACKEND})",
    )
    run.add_argument("--device", help="devices, comma-separated (default: every available)")
    run.add_argument("--dtype", help="dtypes, comma-separated (default: float32)")
    run.add_argument(
        "--suite",
        choices=["conformance", "core", "zoo", "perf", "all"],
        default="conformance",
        help="conformance: every conformance suite, the zoo of real architectures included; core: all but the zoo; "
        "zoo: the zoo alone",
    )
    run.add_argument(
        "-n",
        dest="workers",
        default="auto",
        help="lanes (a backend's suites, its zoo) run at once, each in one worker process; 0: one at a time, each in "
        "its pytest process (default: auto, one per core)",
    )
    run.add_argument("--xfails", action="append", default=[], help="expected-failures file (repeatable)")
    run.add_argument("--report", default="report", help="directory for scoreboard, results and tables")
    run.add_argument("--perf-sizes", help=f"Linear sides for the perf suite (default: {DEFAULT_SIZES})")
    run.add_argument("--perf-rounds", type=int, help=f"fewest timed rounds per perf case (default: {DEFAULT_ROUNDS})")
    run.add_argument(
        "--perf-min-time",
        type=float,
        help=f"seconds of timed work per perf case, in more rounds when they are short (default: {DEFAULT_MIN_TIME})",
    )
    run.add_argument(
        "--perf-threads",
        help=f"torch thread counts each perf case runs at: 1, default or both (default: {DEFAULT_THREADS})",
    )
    run.add_argument(
        "--perf-contention",
        action="store_true",
        help="perf cases also at the default thread count with one CPU-bound process per core beside them",
    )
    run.add_argument(
        "--baseline",
        help="baseline backend of the perf table's ratios; several comma-separated (torch,torch-pruning): each "
        "row against the first of them it has",
    )
    run.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    run.add_argument("--reproduce", type=int, default=DEFAULT_CAP, metavar="N", help=REPRODUCE_HELP)
    run.add_argument("--import-timeout", help=IMPORT_TIMEOUT_HELP)
    run.add_argument("pytest_args", nargs="*", help="after --: any further pytest options, passed as they are")
    run.set_defaults(handler=cmd_run)

    check = commands.add_parser(
        "check",
        help="validate one pruner class: every generic check (exit 0: all pass, 1: a failure, 4: usage error)",
    )
    check.add_argument("spec", metavar="MODULE:CLASS", help="a BaseSparsifier or BaseStructuredSparsifier subclass")
    check.add_argument("--kwargs", help="constructor arguments as a JSON object (default: none)")
    check.add_argument(
        "--like",
        help="the contract class whose selection rule yours follows (WeightNormSparsifier, NearlyDiagonalSparsifier, "
        "SaliencyPruner, FPGMPruner, LSTMSaliencyPruner, WandaSparsifier, OneShotMagnitudeSparsifier): its suites "
        "and differential checks run too",
    )
    check.add_argument("--device", help="devices, comma-separated (default: every available)")
    check.add_argument("--dtype", help="dtypes, comma-separated (default: float32)")
    check.add_argument("--xfails", action="append", default=[], help="expected-failures file (repeatable)")
    check.add_argument("--report", help="also write scoreboard, failures and results to this directory")
    check.add_argument(
        "-n",
        dest="workers",
        default="0",
        help="0: checks in the pytest process (default); N >= 1: in one worker process",
    )
    check.add_argument("-k", dest="keyword", help="only checks matching this pytest -k expression")
    check.add_argument("--reproduce", type=int, default=DEFAULT_CAP, metavar="N", help=REPRODUCE_HELP)
    check.add_argument("--import-timeout", help=IMPORT_TIMEOUT_HELP)
    check.add_argument("pytest_args", nargs="*", help="after --: any further pytest options, passed as they are")
    check.set_defaults(handler=cmd_check)

    quality = commands.add_parser(
        "quality", help="which pruner is better: quality at sparsity, one protocol for every backend (see README)"
    )
    add_quality_arguments(quality)
    quality.set_defaults(handler=cmd_quality)

    backends = commands.add_parser("backends", help="list installed backends and the names each lacks")
    backends.set_defaults(handler=cmd_backends)

    table = commands.add_parser("table", help="render results files as a table")
    table.add_argument("results", nargs="+")
    table.add_argument("--format", default="md", help="md, github, html, latex or csv (default: md)")
    table.add_argument("--by", default="backend", help="columns: backend (default) or device")
    table.add_argument(
        "--baseline",
        help="column the ratios are taken against (default: the first); several comma-separated: each row "
        "against the first of them it has",
    )
    table.add_argument("-o", "--output", help="write to this file (atomically) instead of stdout")
    table.set_defaults(handler=cmd_table)

    plot = commands.add_parser("plot", help="plot results files as PNGs")
    plot.add_argument("results", nargs="+")
    plot.add_argument("-o", "--output", required=True, help="directory for the PNGs")
    plot.add_argument(
        "--baseline",
        help="backend the speedups are taken against, or several in order of preference (torch,torch-pruning): "
        "each group against the first it has (default: the first backend)",
    )
    plot.set_defaults(handler=cmd_plot)

    merge = commands.add_parser("merge", help="combine results files from several machines into one")
    merge.add_argument("results", nargs="+")
    merge.add_argument("-o", "--output", required=True, help="the merged results file (written atomically)")
    merge.add_argument("--strict", action="store_true", help="exit 1 when the machines' environments conflict")
    merge.set_defaults(handler=cmd_merge)

    compare = commands.add_parser(
        "compare",
        help="exit 1 when NEW regressed against BASE beyond the threshold (6: slower, but measured on a busy "
        "machine or too noisy to judge; 2: a results file is invalid)",
    )
    compare.add_argument("base")
    compare.add_argument(
        "new",
        nargs="+",
        help="the new run; several runs of the same code: a case regressed only when it did in each run",
    )
    compare.add_argument(
        "--threshold",
        default="10%",
        help="allowed slowdown or growth in percent: 10%% and 10 both mean 10%% (default: 10%%); "
        "growth of peak memory within a noise band is never a regression (see README)",
    )
    compare.add_argument(
        "--relative-to",
        metavar="BACKEND",
        help="judge each case by its time over the same case of BACKEND in the same run (machine drift "
        "cancels); BACKEND's own cases are not judged",
    )
    compare.set_defaults(handler=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"prunebench: error: {error}", file=sys.stderr)
        return USAGE_EXIT
    except ResultsError as error:
        print(f"prunebench: error: {error}", file=sys.stderr)
        return RESULTS_EXIT
    except RunInterruptedError as stop:
        print(f"prunebench: interrupted by {stop}: stopped pytest and its workers, report marked so", file=sys.stderr)
        return stop.exit_status  # 128 + the signal: 130 (SIGINT), 143 (SIGTERM)
    except KeyboardInterrupt:  # Ctrl-C before or after the pytest child: nothing to stop, no traceback
        print("prunebench: interrupted by SIGINT", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
