"""The quality suite's data, all on the machine after set-up: scikit-learn's digits and Python's own English text.

Nothing is downloaded at run time. Each data set carries the sha256 of its bytes as loaded, recorded
with every result, so two runs are known to have seen the same data (``pydoc_data.topics`` changes
between Python releases; the digits with scikit-learn's wheel). Splits are fixed: the same for every
seed and every run, so seeds vary the training, never what is held out.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from dataclasses import dataclass

import torch
from prunebench.harness.errors import UsageError

DIGITS_TEST_SIZE = 397
"""Held-out digits: 1,400 of the 1,797 images train, the rest test (issue #22's split sizes)."""
DIGITS_SPLIT_SEED = 0
"""Seed of the one permutation that splits the digits, whatever the run's seeds."""
DIGITS_MAX_VALUE = 16.0
"""The digits' pixels are counts 0..16 (4x4 blocks of a 32x32 bitmap): scaled to [0, 1]."""
TEXT_HELD_OUT_FRACTION = 0.1
"""The last tenth of the text is held out, in one contiguous piece (no window straddles the two)."""


@dataclass(frozen=True)
class Digits:
    """The 8x8 digit images as ``(N, 1, 8, 8)`` float32 in [0, 1] with their labels, split once."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    sha256: str
    source: str = "sklearn.datasets.load_digits"


@dataclass(frozen=True)
class Text:
    """English text as byte values (``long``), split into a training part and a held-out part."""

    train: torch.Tensor
    held_out: torch.Tensor
    sha256: str
    source: str = "pydoc_data.topics (the topics joined by newlines, in key order, UTF-8)"


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def load_digits() -> Digits:
    """scikit-learn's digits, or a ``UsageError`` naming the extra that installs scikit-learn."""
    try:
        datasets = importlib.import_module("sklearn.datasets")
    except ImportError as error:
        raise UsageError(
            f"the digits models need scikit-learn ({error}); install it with: pip install 'prunebench[quality]'"
        ) from error
    bunch = datasets.load_digits()
    images = torch.from_numpy(bunch.images.astype("float32") / DIGITS_MAX_VALUE).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype("int64"))
    digest = _sha256(bunch.images.astype("float64").tobytes(), bunch.target.astype("int64").tobytes())
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    test, train = order[:DIGITS_TEST_SIZE], order[DIGITS_TEST_SIZE:]
    return Digits(images[train], labels[train], images[test], labels[test], digest)


def text_bytes() -> bytes:
    """Python's bundled documentation topics, joined by newlines in key order, as UTF-8."""
    topics = importlib.import_module("pydoc_data.topics").topics
    return "\n".join(topics[key] for key in sorted(topics)).encode("utf-8")


@functools.cache
def load_text() -> Text:
    raw = text_bytes()
    values = torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()
    split = int(len(values) * (1 - TEXT_HELD_OUT_FRACTION))
    return Text(values[:split], values[split:], _sha256(raw))
