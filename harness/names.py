"""Names the command line, the pytest plugin and the environment share: importable without torch.

The plugin's entry point reads them in every pytest run of an environment with prunebench installed,
most of which never use prunebench; importing torch there would cost every such run seconds.
"""

from __future__ import annotations

DEFAULT_BACKEND = "reference"
BACKEND_ENV = "PRUNEBENCH_BACKEND"
"""Selects the backend(s) like ``--backend`` when that is not given."""
DTYPE_NAMES: tuple[str, ...] = ("float32", "float16", "bfloat16")
"""The weight dtypes of the matrix, by the name ``--dtype`` takes."""
DEFAULT_DTYPES: tuple[str, ...] = ("float32",)
SELF_TEST_MARKER = "prunebench_self_test"
"""Marks the harness's own tests (tests/conftest.py adds it): their scoreboard rows say "self-test"."""
KNOWN_DEVICES: tuple[str, ...] = ("cpu", "cuda")
"""The devices ``--device`` takes."""
