"""Whether a run's verdict depends on ``-n``: every backend of ``tests/broken`` through ``prunebench run`` with each
worker count, on the suites its record names (``tests/test_broken_backends.py``), compared.

The backends whose records select the same tests run together, one ``prunebench run`` per selection and worker
count (each backend in its own lanes, as always). A backend's verdict is whether its lanes finished and which of
its tests failed (``failed``, ``crashed`` or ``xpassed``). Prints one Markdown row per backend as it goes (and
writes them to ``--out``); exits 1 when any backend's verdict differs between worker counts. Slow (every
backend four times): a measurement for a report, not a test.

    python scripts/verdicts_by_workers.py --workers=0,1,2,auto --out=verdicts.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_broken_backends import BROKEN_BACKENDS, BrokenBackend  # noqa: E402 - after the path

FAILING = ("failed", "crashed", "xpassed")


def selection(record: BrokenBackend) -> tuple[str, ...]:
    """The record's suite files and options as ``prunebench run`` options (``--maxfail`` dropped: it cuts a
    run short, which would make every verdict "incomplete")."""
    modules = " or ".join(record.suites)
    keywords = [option.removeprefix("-k=") for option in record.extra if option.startswith("-k=")]
    expression = " and ".join([f"({modules})", *(f"({keyword})" for keyword in keywords)])
    others = [option for option in record.extra if not option.startswith(("-k=", "--maxfail"))]
    return ("-k", expression, *others)


def verdicts(modules: list[str], chosen: tuple[str, ...], workers: str, report: Path) -> dict[str, str]:
    """Each module's verdict in one run of them all: ``complete, N failed`` (and which, by a short hash)."""
    backends = ",".join(f"tests.broken.{module}" for module in modules)
    command = [sys.executable, "-m", "prunebench.harness.cli", "run", f"--backend={backends}", "--suite=core"]
    command += [f"-n={workers}", "--reproduce=0", f"--report={report}", *chosen]
    subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=7200)
    try:
        document = json.loads((report / "conformance.json").read_text())
    except (OSError, ValueError):
        document = {"records": [], "incomplete": "no report"}
    found = {}
    for module in modules:
        name = f"broken-{module}"
        records = [r for r in document["records"] if r["cell"]["backend"] == name]
        failed = sorted(r["cell"]["test"] for r in records if r["outcome"] in FAILING)
        state = "complete" if not document.get("incomplete") else "incomplete"
        digest = zlib.crc32("\n".join(failed).encode()) % 10_000  # which tests, in four digits
        found[module] = f"{state}, {len(records)} ran, {len(failed)} failed #{digest:04d}"
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="0,1,2,auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    counts = args.workers.split(",")
    groups: dict[tuple[str, ...], list[str]] = {}
    for record in BROKEN_BACKENDS:
        modules = groups.setdefault(selection(record), [])
        if record.module not in modules:
            modules.append(record.module)
    header = f"| backend | selection | {' | '.join(f'-n {n}' for n in counts)} | same |"
    lines, differing, rows = [header, "|" + " --- |" * (len(counts) + 3)], 0, 0
    with tempfile.TemporaryDirectory() as scratch:
        for index, (chosen, modules) in enumerate(groups.items()):
            by_workers = [verdicts(modules, chosen, n, Path(scratch) / f"{index}-{n}") for n in counts]
            for module in modules:
                cells = [found[module] for found in by_workers]
                same = len(set(cells)) == 1
                differing, rows = differing + (not same), rows + 1
                where = " ".join(chosen[1:])
                lines.append(f"| {module} | `{where}` | {' | '.join(cells)} | {'yes' if same else '**no**'} |")
                print(lines[-1], flush=True)
            if args.out:
                args.out.write_text("\n".join(lines) + "\n")
    print(f"{rows - differing} of {rows} verdicts the same for -n {', '.join(counts)}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
