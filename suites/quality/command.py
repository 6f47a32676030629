"""``prunebench quality``: parse the options, run the grid, write the report, its JSON and its plots.

The published run (``results/quality.md``, ``results/quality/``) is the default invocation::

    prunebench quality --backend=builtins --out=results/quality.md

``--quick`` trains briefly and runs one seed at three targets: the whole pipeline in minutes, for a
backend of your own (``--backend=my_pkg.mod``) before a full run. Heavy imports wait for ``run`` so that
building the ``prunebench`` parser stays cheap.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from prunebench.harness.errors import UsageError

DEFAULT_MODELS = "cnn,mlp,lm"
DEFAULT_OUT = "results/quality.md"
DEFAULT_THREADS = 1
"""torch threads for training and evaluation: results that do not depend on the machine's core count, and
no thread oversubscription on a shared machine (a 2-thread step ran ~6x slower than 1 thread under load 9)."""
FULL_GRID = {"seeds": "3", "levels": "0.5,0.6,0.7,0.8,0.9", "structured_levels": "0.1,0.2,0.3,0.4,0.5"}
QUICK_GRID = {"seeds": "1", "levels": "0.5,0.9", "structured_levels": "0.3"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default="builtins",
        help="backends, comma-separated: built-ins, entry points or import paths; 'builtins' = every installed "
        "built-in (default)",
    )
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"models, comma-separated (default: {DEFAULT_MODELS})")
    parser.add_argument("--seeds", help="number of seeds, each training its own dense model (default: 3; quick: 1)")
    parser.add_argument("--levels", help="unstructured levels, comma-separated (default: 0.5,...,0.9; quick: 0.5,0.9)")
    parser.add_argument(
        "--structured-levels", help="structured levels, comma-separated (default: 0.1,...,0.5; quick: 0.3)"
    )
    parser.add_argument("--no-two-of-four", action="store_true", help="leave 2:4 out of the unstructured targets")
    parser.add_argument("--quick", action="store_true", help="train briefly, one seed, three targets: minutes")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help="the Markdown report; JSON and plots go in a folder beside it"
    )
    parser.add_argument(
        "--cache-dir", help="trained checkpoints (default: $PRUNEBENCH_CACHE_DIR or ~/.cache/prunebench/quality)"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help=f"torch threads (default: {DEFAULT_THREADS})"
    )


def parse_levels(option: str, text: str) -> tuple[float, ...]:
    """Comma-separated levels strictly between 0 and 1, each named in the error when it is not one."""
    levels = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            level = float(item)
        except ValueError:
            level = float("nan")
        if not 0 < level < 1:
            raise UsageError(f"{option}={text!r}: {item!r} is not a level strictly between 0 and 1")
        levels.append(level)
    return tuple(dict.fromkeys(levels))


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(f"--seeds={text!r}: expected a number of seeds, at least 1")
    return tuple(range(count))


def _grid_options(args: argparse.Namespace) -> dict[str, str]:
    defaults = QUICK_GRID if args.quick else FULL_GRID
    return {key: getattr(args, key) or value for key, value in defaults.items()}


def reproduce_command(args: argparse.Namespace) -> str:
    grid = _grid_options(args)
    words = [
        "prunebench",
        "quality",
        f"--backend={args.backend}",
        f"--models={args.models}",
        f"--seeds={grid['seeds']}",
    ]
    words += [f"--levels={grid['levels']}", f"--structured-levels={grid['structured_levels']}"]
    words += ["--no-two-of-four"] * args.no_two_of_four + ["--quick"] * args.quick
    words += [f"--threads={args.threads}", f"--out={args.out}"]
    return shlex.join(words)


def expand_builtins(values: str) -> str:
    """``builtins`` (alone or in a list) becomes every built-in whose library is installed, the others named."""
    from prunebench.harness.backend import available_builtins, require_backend_names

    require_backend_names(values)
    names = [name.strip() for name in values.split(",") if name.strip()]
    if "builtins" not in names:
        return ",".join(names)
    available, unavailable = available_builtins()
    for name, why in unavailable.items():
        print(f"prunebench: skipping built-in backend {name!r}: {why}", file=sys.stderr)
    expanded = [item for name in names for item in (available if name == "builtins" else [name])]
    return ",".join(dict.fromkeys(expanded))


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    import torch

    if count < 1:
        raise UsageError(f"--threads={count}: expected at least 1")
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_plan(args: argparse.Namespace):
    """Every choice of the command line checked and turned into a ``Plan`` (usage errors before any work)."""
    from prunebench.harness.backend import resolve_backends

    from .cache import default_cache_dir
    from .methods import floor_methods, methods_of
    from .models import select_models
    from .protocol import Plan, targets

    grid = _grid_options(args)
    models = select_models(args.models, "quick" if args.quick else "full")
    seeds = parse_seeds(grid["seeds"])
    levels = parse_levels("--levels", grid["levels"])
    structured = parse_levels("--structured-levels", grid["structured_levels"])
    methods, not_run = [], []
    for backend in resolve_backends(expand_builtins(args.backend)):
        found, skipped = methods_of(backend)
        methods += found
        not_run += skipped
    if not methods:
        raise UsageError(f"--backend={args.backend!r}: no backend provides a rule the grid can run")
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    all_targets = targets(levels, not args.no_two_of_four, structured)
    return Plan(tuple(models), tuple(methods + floor_methods()), tuple(not_run), seeds, all_targets, cache_dir)


def run(args: argparse.Namespace) -> int:
    """The whole run: measure, summarise, write ``--out``, its JSON and plots; print where they are."""
    from .publish import publish

    started = time.perf_counter()
    plan = build_plan(args)
    with torch_threads(args.threads):
        written = publish(plan, reproduce_command(args), Path(args.out), started)
    for path in written:
        print(path)
    return 0


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prunebench.suites.quality", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except UsageError as error:
        print(f"prunebench: error: {error}", file=sys.stderr)
        return 4
