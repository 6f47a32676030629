"""The pruned-model checks' own outcomes that no broken backend reaches: what is *unsupported*, not failed.

A kernel torch lacks for a dtype, or a model torch.export cannot trace even before pruning, is torch's
limit: the checks must report it as unsupported (never pass, never blame the pruner).
"""

from __future__ import annotations

import pytest
import torch
from prunebench.harness.errors import UnsupportedError
from prunebench.suites.pruned_model_checks import check_export, require_torch_kernels
from torch import nn


class _NoHalfKernel(nn.Module):
    """Raises what torch raises for an op without a kernel for the input's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("\"addmm_impl_cpu_\" not implemented for 'Half'")


class _DataDependent(nn.Module):
    """Python control flow on a tensor's value: torch.export cannot trace it, pruned or not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x


def test_missing_kernel_is_unsupported():
    with pytest.raises(UnsupportedError, match="not implemented for 'Half'"):
        require_torch_kernels(_NoHalfKernel(), torch.ones(2, dtype=torch.float16))


def test_other_errors_of_the_dense_model_propagate():
    model = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        require_torch_kernels(model, torch.ones(1, 4))


def test_export_failing_on_the_dense_model_too_is_unsupported():
    x = torch.ones(3)
    with pytest.raises(UnsupportedError, match="cannot export the dense model either"):
        check_export(_DataDependent(), x, x * 2, dense=_DataDependent())


def test_export_failing_on_the_pruned_model_only_fails():
    x = torch.ones(3)
    with pytest.raises(AssertionError, match="fails on the pruned model but exports the dense one"):
        check_export(_DataDependent(), x, x * 2, dense=nn.Identity())
