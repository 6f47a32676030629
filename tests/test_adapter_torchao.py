"""The ``torchao`` adapter: unavailable without torchao, resolvable with it; xfails: test_shipped_xfails.

Also the evidence behind its Wanda entries: with activations pre-scaled so that torchao's squared norm
equals the true one, torchao's masks equal the reference's.
"""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys

import pytest
import torch
from prunebench.harness.api import API_NAMES
from prunebench.harness.backend import resolve_backend
from prunebench.harness.errors import BackendUnavailableError, UsageError
from torch import nn

from prunebench import reference_impl

from .conftest import hide_library, import_adapter

ADAPTER = "prunebench.harness.backends.torchao_sparsity"
MISSING_HINT = "pip install 'prunebench[torchao]'"
WANDA_NOISE = [
    "ignore:torch.ao.quantization is deprecated:DeprecationWarning",  # torchao's Wanda prepares via torch.ao
    "ignore:WandaSparsifier got semi_structured:UserWarning",  # it warns that 2:4 fixes the level at 50%
]

adapter = import_adapter(ADAPTER)
needs_torchao = pytest.mark.skipif(adapter is None, reason="torchao is not installed")


@pytest.fixture
def without_torchao(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import torchao`` fail and forget the adapter, so that the next import runs it afresh."""
    hide_library(monkeypatch, "torchao", ADAPTER)


def test_import_without_torchao_names_the_extra(without_torchao):
    with pytest.raises(BackendUnavailableError) as error:
        importlib.import_module(ADAPTER)
    assert (error.value.backend, error.value.extra) == ("torchao", "torchao")
    assert MISSING_HINT in str(error.value), str(error.value)


def test_resolving_without_torchao_is_a_usage_error(without_torchao):
    with pytest.raises(UsageError) as error:
        resolve_backend(ADAPTER)
    assert MISSING_HINT in str(error.value) and "torchao" in str(error.value), str(error.value)


@needs_torchao
def test_resolves_with_torchao_name_version_and_every_name():
    import torchao

    backend = resolve_backend(ADAPTER)
    assert (backend.name, backend.version) == ("torchao", torchao.__version__)
    assert backend.provided() == list(API_NAMES), f"missing {set(API_NAMES) - set(backend.provided())}"
    assert backend.provides("WandaSparsifier")
    assert backend.xfails_file is not None and backend.xfails_file.is_file()


@needs_torchao
@pytest.mark.parametrize("api_name", [*API_NAMES, "WandaSparsifier"])
def test_every_name_is_torchaos_own(api_name):
    module = getattr(adapter, api_name).__module__
    assert module.startswith("torchao."), f"{api_name} comes from {module}, not from torchao"


@needs_torchao
def test_import_is_quiet_and_restores_logger_levels():
    result = subprocess.run([sys.executable, "-c", f"import {ADAPTER}"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert all(logging.getLogger(name).level == logging.NOTSET for name in adapter._NOISY_IMPORT_LOGGERS)


def _wanda_mask(sparsifier_class: type, weight: torch.Tensor, calibration: torch.Tensor, **kwargs) -> torch.Tensor:
    model = nn.Sequential(nn.Linear(weight.shape[1], weight.shape[0], bias=False))
    with torch.no_grad():
        model[0].weight.copy_(weight)
    sparsifier = sparsifier_class(**kwargs)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}])
    with torch.no_grad():
        model(calibration)
    sparsifier.step()
    return model[0].parametrizations.weight[0].mask != 0


# 2:4 blocks and single-row weights: cases where torchao's layer-wide ranking equals the per-row one.
UNSQUARED_CASES = {
    "2of4": ((6, 16), {"semi_structured_block_size": 4}),
    "one_row": ((1, 24), {"sparsity_level": 0.5}),
}


@needs_torchao
@pytest.mark.filterwarnings(*WANDA_NOISE)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", sorted(UNSQUARED_CASES))
def test_torchao_wanda_matches_reference_once_its_norm_is_unsquared(case, seed):
    shape, kwargs = UNSQUARED_CASES[case]
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=generator)
    calibration = torch.randn(5, shape[1], generator=generator) * torch.rand(shape[1], generator=generator) * 4
    # torchao multiplies |W| by the squared column norm: feed it columns of norm sqrt(||X_j||).
    unsquared = calibration / calibration.norm(dim=0).sqrt()
    expected = _wanda_mask(reference_impl.WandaSparsifier, weight, calibration, **kwargs)
    actual = _wanda_mask(adapter.WandaSparsifier, weight, unsquared, **kwargs)
    assert torch.equal(actual, expected), f"{case}, seed {seed}: torchao {actual.tolist()} vs {expected.tolist()}"
