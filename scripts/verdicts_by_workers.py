"""Whether a run's verdict depends on ``-n``: every backend of ``tests/broken`` through ``prunebench run`` with each
worker count, on the suite its record names (``tests/test_broken_backends.py``), compared.

A verdict is the exit status and the set of tests that failed. Prints one Markdown row per backend (and writes
them to ``--out``); exits 1 when any backend's verdict differs between worker counts. Slow (four runs per
backend): a measurement for the report, not a test.

    python scripts/verdicts_by_workers.py --workers=0,1,2,auto --out=verdicts.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_broken_backends import BROKEN_BACKENDS, BrokenBackend  # noqa: E402 - after the path


def selection(record: BrokenBackend) -> list[str]:
    """The record's suite files and options as ``prunebench run`` options (``--maxfail`` dropped: it cuts a
    run short, which would make every verdict "incomplete")."""
    modules = " or ".join(suite for suite in record.suites)
    keywords = [option.removeprefix("-k=") for option in record.extra if option.startswith("-k=")]
    expression = " and ".join([f"({modules})", *(f"({keyword})" for keyword in keywords)])
    others = [option for option in record.extra if not option.startswith(("-k=", "--maxfail"))]
    return ["-k", expression, *others]


def verdict(record: BrokenBackend, workers: str, scratch: Path) -> tuple[int, tuple[str, ...]]:
    report = scratch / f"{record.module}-{workers}"
    command = [sys.executable, "-m", "prunebench.harness.cli", "run", f"--backend=tests.broken.{record.module}"]
    command += ["--suite=core", f"-n={workers}", "--reproduce=0", f"--report={report}", *selection(record)]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    try:
        records = json.loads((report / "conformance.json").read_text())["records"]
    except (OSError, ValueError):
        records = []
    failed = tuple(sorted(r["cell"]["test"] for r in records if r["outcome"] in ("failed", "crashed", "xpassed")))
    return completed.returncode, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="0,1,2,auto")
    parser.add_argument("--only", help="comma-separated module names (default: every record)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    counts = args.workers.split(",")
    records = list(
        {record.module + "".join(record.extra) + "".join(record.suites): record for record in BROKEN_BACKENDS}.values()
    )
    if args.only:
        records = [record for record in records if record.module in args.only.split(",")]
    lines = [
        f"| backend | suites | {' | '.join(f'-n {n}' for n in counts)} | same |",
        "|" + " --- |" * (len(counts) + 3),
    ]
    differing = 0
    with tempfile.TemporaryDirectory() as scratch:
        for record in records:
            verdicts = [verdict(record, n, Path(scratch)) for n in counts]
            same = len(set(verdicts)) == 1
            differing += not same
            cells = [f"exit {status}, {len(failed)} failed" for status, failed in verdicts]
            where = " ".join(selection(record)[1:])
            lines.append(f"| {record.module} | `{where}` | {' | '.join(cells)} | {'yes' if same else '**no**'} |")
            print(lines[-1], flush=True)
            if args.out:
                args.out.write_text("\n".join(lines) + "\n")
    print(f"{len(records) - differing} of {len(records)} verdicts the same for -n {', '.join(counts)}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
