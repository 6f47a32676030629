"""The ``torchao`` backend: torchao's copy of the sparsifier and pruner APIs, unchanged.

torchao ships its own copy of ``torch.ao.pruning`` under ``torchao.prototype.sparsity``: the
element-wise sparsifiers in ``sparsifier/`` and the structured pruners in ``pruner/``. Everything
below comes from torchao itself, nothing is borrowed from torch. ``WandaSparsifier`` (an extra
name, ``harness.api.EXTRA_API``) lives in ``torchao.sparsity.wanda``.

Importing torchao logs warnings about native kernels this machine cannot load (CUDA-only ``.so``
files on a CPU build) and a torch deprecation notice; they are silenced for the import only, by
raising the level of those two loggers and restoring it afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prunebench.harness.errors import BackendUnavailableError

_NOISY_IMPORT_LOGGERS = ("torchao", "torch.utils._pytree")
"""Loggers that warn during ``import torchao``: failed loads of CUDA-only kernels, an Enum pytree notice."""


@contextmanager
def _quiet_loggers(names: tuple[str, ...]) -> Iterator[None]:
    """Raise ``names`` to ERROR for the duration of the block, then restore their own levels."""
    loggers = [logging.getLogger(logger_name) for logger_name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


try:
    with _quiet_loggers(_NOISY_IMPORT_LOGGERS):
        import torchao
        from torchao.prototype.sparsity import (
            BaseSparsifier,
            FakeSparsity,
            NearlyDiagonalSparsifier,
            WeightNormSparsifier,
        )
        from torchao.prototype.sparsity.pruner import (
            BaseStructuredSparsifier,
            FakeStructuredSparsity,
            FPGMPruner,
            LSTMSaliencyPruner,
            SaliencyPruner,
        )
        from torchao.sparsity import WandaSparsifier
except ImportError as error:
    raise BackendUnavailableError("torchao", "torchao", "torchao", error) from error

name = "torchao"
version = torchao.__version__
xfails = Path(__file__).with_name("torchao_sparsity.xfails")
"""What the suites find wrong in torchao, as data: test-id prefixes, each with its classified reason."""

__all__ = [
    "BaseSparsifier",
    "BaseStructuredSparsifier",
    "FPGMPruner",
    "FakeSparsity",
    "FakeStructuredSparsity",
    "LSTMSaliencyPruner",
    "NearlyDiagonalSparsifier",
    "SaliencyPruner",
    "WandaSparsifier",
    "WeightNormSparsifier",
]
