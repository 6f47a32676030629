"""``--backend`` resolution: built-ins, import paths, entry points, and clear usage errors."""

from __future__ import annotations

import argparse
import textwrap

import pytest
from prunebench.harness.api import API_NAMES
from prunebench.harness.backend import BUILTIN_BACKENDS, resolve_backend, resolve_backends, unchecked_warning
from prunebench.harness.errors import UnsupportedError, UsageError

from .conftest import SUITES, run_suites

PARTIAL_ADAPTERS = {
    # Torch-Pruning has no element-wise sparsifiers, and its LSTM pruning cannot remove hidden units.
    "torch-pruning": ["BaseStructuredSparsifier", "FakeStructuredSparsity", "SaliencyPruner", "FPGMPruner"],
    # torch.nn.utils.prune is unstructured masking only.
    "nn-utils-prune": ["BaseSparsifier", "FakeSparsity", "WeightNormSparsifier", "NearlyDiagonalSparsifier"],
    # llm-compressor has one-shot pruners only (harness.oneshot), no class of the torch.ao.pruning contract.
    "llm-compressor": [],
}
"""Built-ins that cover part of the contract on purpose, and exactly which names each provides."""

OUTSIDE_THE_MAIN_SET_UP = {"llm-compressor"}
"""Built-ins whose library README's set-up does not install (a tox environment of its own does)."""


@pytest.mark.parametrize("name", sorted(BUILTIN_BACKENDS))
def test_builtins_resolve_with_the_names_they_promise(name):
    try:
        backend = resolve_backend(name)
    except UsageError as error:
        if name not in OUTSIDE_THE_MAIN_SET_UP:
            raise
        pytest.skip(f"{error}")
    assert backend.name == name
    expected = PARTIAL_ADAPTERS.get(name, list(API_NAMES))
    assert backend.provided() == expected, f"built-in {name!r}: provides {backend.provided()}, expected {expected}"


def test_reference_impl_is_a_backend_by_import_path():
    backend = resolve_backend("reference_impl")
    assert backend.provided() == list(API_NAMES)


def test_unknown_name_lists_the_builtins():
    with pytest.raises(UsageError) as error:
        resolve_backend("no_such_backend_xyz")
    message = str(error.value)
    assert "no_such_backend_xyz" in message
    assert all(name in message for name in BUILTIN_BACKENDS), message


def test_import_error_is_a_usage_error(pytester):
    pytester.makepyfile(crashing_backend="raise RuntimeError('backend exploded on import')\n")
    pytester.syspathinsert()
    with pytest.raises(UsageError, match="backend exploded on import"):
        resolve_backend("crashing_backend")


def test_module_without_contract_names_is_rejected(pytester):
    pytester.makepyfile(empty_backend="x = 1\n")
    pytester.syspathinsert()
    with pytest.raises(UsageError, match="provides none"):
        resolve_backend("empty_backend")


def test_missing_attribute_in_import_path(pytester):
    pytester.makepyfile(some_backend="from reference_impl import WeightNormSparsifier\n")
    pytester.syspathinsert()
    with pytest.raises(UsageError, match="has no attribute 'nope'"):
        resolve_backend("some_backend:nope")


def test_attribute_import_path(pytester):
    pytester.makepyfile(
        nested_backend=textwrap.dedent(
            """
            import types
            from prunebench import reference_impl
            impl = types.SimpleNamespace(name="nested", WeightNormSparsifier=reference_impl.WeightNormSparsifier)
            """
        )
    )
    pytester.syspathinsert()
    backend = resolve_backend("nested_backend:impl")
    assert (backend.name, backend.provided()) == ("nested", ["WeightNormSparsifier"])
    with pytest.raises(UnsupportedError, match="does not provide FPGMPruner"):
        backend.get("FPGMPruner")


def test_duplicate_backends_rejected():
    with pytest.raises(UsageError, match="twice"):
        resolve_backends("reference,reference")


def test_cli_usage_error_is_clean(pytester):
    result = run_suites(pytester, str(SUITES / "test_step.py"), "--backend=not_a_backend")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "cannot use backend 'not_a_backend'" in err and "reference" in err and "torch" in err, err
    assert "Traceback" not in err, err


def test_module_on_pythonpath_runs_the_suites(pytester):
    pytester.makepyfile(
        third_party=textwrap.dedent(
            """
            from prunebench.reference_impl import BaseSparsifier, FakeSparsity
            name = "third-party"
            version = "9.9"
            """
        )
    )
    pytester.syspathinsert()
    result = run_suites(pytester, str(SUITES / "test_step.py"), "--backend=third_party")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert outcomes.get("passed", 0) >= 3 and outcomes.get("skipped", 0) == 1, outcomes
    out = result.stdout.str()
    assert "third-party" in out and "unsupported" in out, out


def test_environment_variable_selects_backend(pytester, monkeypatch):
    monkeypatch.setenv("PRUNEBENCH_BACKEND", "torch")
    result = run_suites(pytester, str(SUITES / "test_step.py"), "--collect-only")
    assert "test_step_applies_update_mask[torch-" in result.stdout.str(), result.stdout.str()


def test_builtins_keyword_runs_the_available_and_names_the_missing(monkeypatch, capsys):
    import prunebench.harness.backend as backend_module
    from prunebench.harness.cli import _expand_builtins

    monkeypatch.setitem(backend_module.BUILTIN_BACKENDS, "ghost", "no_such_adapter_module")
    args = argparse.Namespace(backend="builtins")
    _expand_builtins(args)
    assert "reference" in args.backend.split(",") and "ghost" not in args.backend.split(","), args.backend
    assert "skipping built-in backend 'ghost'" in capsys.readouterr().err


def test_builtins_keyword_expands_inside_a_list_without_duplicates():
    from prunebench.harness.cli import _expand_builtins

    args = argparse.Namespace(backend="my_pruner,builtins,reference")
    _expand_builtins(args)
    names = args.backend.split(",")
    assert names[0] == "my_pruner" and "torch" in names and "builtins" not in names, names
    assert names.count("reference") == 1, names


def test_own_names_without_contract_names_point_to_prunebench_check(tmp_path, monkeypatch):
    package = tmp_path / "renamed_pruners.py"
    package.write_text(
        "from torch.ao.pruning import BaseSparsifier, FakeSparsity\n"
        "from own_pruners import L1RowPruner, MagnitudeSparsifier\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = resolve_backend("renamed_pruners")
    warning = unchecked_warning(backend)
    assert warning is not None and "L1RowPruner, MagnitudeSparsifier" in warning, warning
    assert "prunebench check renamed_pruners:L1RowPruner" in warning, warning


def test_own_names_only_is_a_usage_error_naming_them():
    exported = "GradualMagnitudeSparsifier, L1FilterPruner, L1RowPruner, MagnitudeSparsifier"
    with pytest.raises(UsageError, match=rf"exports {exported} .*prunebench check own_pruners:"):
        resolve_backend("own_pruners")


def test_contract_names_silence_the_warning():
    assert unchecked_warning(resolve_backend("reference")) is None
