"""The zoo suite: every structured backend prunes real architectures (``suites/zoo/models.py``).

Each zoo model is pruned with the backend's ``SaliencyPruner`` at every level of ``SPARSITY_LEVELS``
(all its Linear / Conv2d layers but the head), once per case (``pruning.pruned_once``); each test
then checks one thing of the result, so an expected failure names exactly what a library gets wrong:
``prune()`` succeeds and the logits keep their shape, the pruned model computes what the masked one
did, parameters drop, the pruned model trains and ``torch.export`` captures it. Without
``transformers`` every test is unsupported.
"""

from __future__ import annotations

import pytest
import torch

from ..pruned_model_checks import assert_outputs_close, check_export, check_trains
from ..structured_checks import parameter_count
from .models import ZOO, ZooModel, require_transformers
from .pruning import SPARSITY_LEVELS, ZooPruning, pruned_once

ZOO_TEST_TIMEOUT_S = 600
"""Per-test limit, to detect a hang only: a case's first test prunes the model, and in float16 on a CPU (no fast
half-precision kernels) Torch-Pruning prunes MobileNetV2 in about 65 s on an idle 2-core machine and past 120 s
when the machine is busy (the dtype-matrix runs timed out there at a 120 s limit, and passed alone). A pruner
known to hang on a model (Torch-Pruning on grouped-query attention, its issue #527) is refused by its adapter
before it starts."""

pytestmark = [
    pytest.mark.requires("BaseStructuredSparsifier", "SaliencyPruner"),
    pytest.mark.timeout(ZOO_TEST_TIMEOUT_S),
    pytest.mark.parametrize("record", ZOO, ids=[record.name for record in ZOO]),
    pytest.mark.parametrize("sparsity_level", SPARSITY_LEVELS, ids=[f"s{level}" for level in SPARSITY_LEVELS]),
]


def _pruned(backend, device, dtype, record: ZooModel, sparsity_level: float) -> ZooPruning:
    require_transformers()
    return pruned_once(backend, record, sparsity_level, device, dtype)


def test_zoo_prune_keeps_output_shape(backend, device, dtype, record: ZooModel, sparsity_level: float):
    """``prune()`` succeeds and the pruned model's logits have the dense model's shape and dtype."""
    case = _pruned(backend, device, dtype, record, sparsity_level)
    with torch.no_grad():
        output = case.pruned(*case.inputs)
    expected = case.dense_output
    assert isinstance(output, torch.Tensor), f"the pruned {record.name} returns a {type(output).__name__}"
    assert (output.shape, output.dtype) == (expected.shape, expected.dtype), (
        f"the pruned {record.name} returns logits {tuple(output.shape)} {output.dtype}, "
        f"the dense model {tuple(expected.shape)} {expected.dtype}"
    )


def test_zoo_pruned_equals_masked(backend, device, dtype, record: ZooModel, sparsity_level: float):
    """The pruned model computes what the masked model computed before ``prune()``."""
    case = _pruned(backend, device, dtype, record, sparsity_level)
    if case.masked_output is None:
        raise pytest.fail(
            f"after step() no configured layer of {record.name} carries a mask the suite can read: "
            "nothing to compare the pruned model with"
        )
    assert case.zeroed_rows > 0, f"step() at sparsity_level={sparsity_level} masked no row of {record.name}"
    with torch.no_grad():
        output = case.pruned(*case.inputs)
    assert_outputs_close(output, case.masked_output, f"the pruned {record.name} against the masked one")


def test_zoo_parameters_drop(backend, device, dtype, record: ZooModel, sparsity_level: float):
    """``prune()`` removes parameters: the pruned model has fewer than the dense one."""
    case = _pruned(backend, device, dtype, record, sparsity_level)
    after = parameter_count(case.pruned)
    assert after < case.parameters_before, (
        f"the pruned {record.name} has {after} parameters, the dense one {case.parameters_before}: "
        f"prune() at sparsity_level={sparsity_level} removed nothing"
    )


def test_zoo_pruned_model_trains(backend, device, dtype, record: ZooModel, sparsity_level: float):
    """SGD on the pruned model's parameters lowers a fixed loss (``check_trains``)."""
    case = _pruned(backend, device, dtype, record, sparsity_level)
    check_trains(case.pruned, *case.inputs)


def test_zoo_pruned_model_exports(backend, device, dtype, record: ZooModel, sparsity_level: float):
    """``torch.export.export`` captures the pruned model, and the export computes its logits."""
    case = _pruned(backend, device, dtype, record, sparsity_level)
    with torch.no_grad():
        expected = case.pruned(*case.inputs)
    check_export(case.pruned, *case.inputs, expected, dense=case.dense)
