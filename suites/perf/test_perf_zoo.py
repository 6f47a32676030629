"""Structured pruning of the zoo's real architectures, timed as a user runs it: prepare, step, prune().

The three calls are timed together because backends split the work differently: the reference plans
a model ``torch.fx`` cannot trace at ``prepare`` (its recorded or exported graph), Torch-Pruning builds its
dependency graph at ``prepare`` and prunes at ``prune()``; only the whole lifecycle is the same work
for every backend. Building the model and its inputs is the untimed setup. Whether the pruning is
right is the zoo suite's verdict (``suites/zoo``); a backend that cannot prune a model fails here too,
and its expected-failure file says why.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..zoo.models import ZOO, ZooModel, build_model, example_inputs, prunable_config
from ..zoo.pruning import with_inputs

SPARSITY = 0.5


@pytest.mark.requires("SaliencyPruner")
@pytest.mark.parametrize("record", ZOO, ids=lambda record: record.name)
def test_zoo_prune(backend, device, record: ZooModel, measure):
    pruner_class = backend.get("SaliencyPruner")
    inputs = tuple(x.to(device) for x in example_inputs(record))

    def fresh() -> tuple[Any, ...]:
        model = build_model(record).to(device)
        return pruner_class({"sparsity_level": SPARSITY}), model, prunable_config(model, record)

    def lifecycle(pruner: Any, model: Any, config: list[dict[str, Any]]) -> None:
        pruner.prepare(model, config, **with_inputs(pruner.prepare, inputs))
        pruner.step()
        pruner.prune(**with_inputs(pruner.prune, inputs))

    measure("zoo_prune", fresh, lifecycle, model=record.name, sparsity=SPARSITY)
