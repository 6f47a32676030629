"""The suites catch bugs: each deliberately broken backend in ``tests/broken`` fails the suite meant to catch it.

Every record names a broken backend, the suite file(s) that must fail it, and the symptom: a phrase of
the suite's own failure message, so a backend failing for an unrelated reason (an import error, a
crash elsewhere) does not count as caught. The control runs the reference through the same runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import tempfile
from dataclasses import dataclass

import pytest
import torch

from . import broken
from .conftest import SUITES, run_suites

FLOAT16 = "--dtype=float16"
STRUCTURED_PRUNE = ("test_structured_prune.py",)
STRUCTURED_LIFECYCLE = ("test_structured_lifecycle.py",)
STRUCTURED_PRUNERS = ("test_structured_pruners.py",)
PRUNED_MODEL = ("test_structured_pruned_model.py",)
OUTPUT_DIFFERS = "differs from the masked model's"
NOTHING_REMOVED = "nothing was physically removed"
# a prune() bug fails most chains, and each failure report costs ~0.3 s to render: the first one is enough
FIRST_FAILURE = ("--maxfail=1",)
ONLY_LSTM = ("-k=lstm", *FIRST_FAILURE)  # the chains a bug in LSTM handling can show up in
ONLY_BATCHNORM = ("-k=batchnorm", *FIRST_FAILURE)
ONLY_LAYERNORM = ("-k=layernorm", *FIRST_FAILURE)
ONLY_PRELU = ("-k=prelu", *FIRST_FAILURE)
ONLY_PADDED = ("-k=padded", *FIRST_FAILURE)
DIFFERENTIAL = ("test_differential.py",)
BEYOND_TIES = "zeroes a higher score than it keeps"


def _one_test(test: str) -> tuple[str, ...]:
    """Only ``test`` (every chain of it), up to its first failure: a suite of many checks, one meant for the bug."""
    return (f"-k={test}", *FIRST_FAILURE)


@dataclass(frozen=True)
class BrokenBackend:
    """A module of ``tests/broken``, the suite run that must fail it, and the symptom the failure must show."""

    module: str
    suites: tuple[str, ...]
    symptom: str
    extra: tuple[str, ...] = ()

    @property
    def run(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The suite files and options, without the backend: what the reference control repeats."""
        return self.suites, self.extra

    @property
    def bug(self) -> str:
        """The module docstring's one-line description of the bug."""
        doc = importlib.import_module(f"{broken.__name__}.{self.module}").__doc__ or ""
        return doc.strip().splitlines()[0] if doc.strip() else "(no description)"


BROKEN_BACKENDS: list[BrokenBackend] = [
    BrokenBackend("base_not_abstract", ("test_constructor.py",), "BaseSparsifier can be instantiated"),
    BrokenBackend("config_none_top_level", ("test_constructor.py",), "expected every Linear"),
    BrokenBackend("wn_zeros_default_one", ("test_constructor.py",), "zeros_per_block defaults to the block size"),
    BrokenBackend("defaults_override_config", ("test_prepare.py",), "lost to the default"),
    BrokenBackend("prepare_parametrizes_all", ("test_prepare.py",), "still carry a"),
    BrokenBackend("wn_config_ignored", ("test_prepare.py",), "the constructor default overrode the per-tensor config"),
    BrokenBackend("ignores_enable_mask_update", ("test_step.py",), "although enable_mask_update is False"),
    BrokenBackend(
        "float_mask_promotes", ("test_step.py",), "parametrized weight has dtype torch.float32", extra=(FLOAT16,)
    ),
    BrokenBackend("state_dict_leaks_modules", ("test_state_dict.py",), "holds live module references"),
    BrokenBackend("load_ignores_masks", ("test_state_dict.py",), "differs from the expected mask"),
    BrokenBackend("load_mutates_state_dict", ("test_state_dict.py",), "removed 'mask' from the state_dict"),
    BrokenBackend("squash_drops_zeros", ("test_squash_mask.py",), "nonzero entries where the mask had zeros"),
    BrokenBackend("squash_drops_per_layer", ("test_squash_mask.py",), "sparse_params is None, expected"),
    BrokenBackend("convert_swaps_all", ("test_convert.py",), "swapped layers that were never sparsified"),
    BrokenBackend("convert_none_wrong_error", ("test_convert.py",), "(it raised TypeError"),
    BrokenBackend("prepare_wrong_error", ("test_prepare.py",), "expected AttributeError or ValueError"),
    BrokenBackend("base_init_always_raises", ("test_constructor.py",), "assert isinstance("),
    BrokenBackend("wn_largest_norm", ("test_weight_norm.py",), "the lowest-norm blocks must go first"),
    BrokenBackend("wn_ignores_zeros_per_block", ("test_weight_norm.py",), "zeros, expected"),
    BrokenBackend("wn_ignores_norm", ("test_weight_norm.py",), "norm=l1: kept"),
    BrokenBackend("wn_masks_accumulate", ("test_weight_norm.py",), "drifted from"),
    BrokenBackend("stateful_tuned_after_calls", ("test_weight_norm.py",), "zeroed 5 of 14 blocks, expected round("),
    BrokenBackend("wn_floor_block_count", ("test_differential.py",), "differs from the expected mask"),
    BrokenBackend("wn_masks_frozen", DIFFERENTIAL, "the weights redrawn in place", ("-k=test_trajectory",)),
    BrokenBackend(
        "wanda_masks_frozen",
        ("test_contract.py",),
        "step() used something outside the model and the state_dict",
        ("-k=WandaSparsifier and step_depends_only_on_model_and_state",),
    ),
    BrokenBackend(
        "wn_all_ties_at_the_cut", ("test_weight_norm.py",), "tie at the cut", _one_test("test_ties_at_the_cut")
    ),
    BrokenBackend("nd_band_strict", ("test_nearly_diagonal.py",), "expected ones exactly where"),
    BrokenBackend("nd_accepts_even", ("test_nearly_diagonal.py",), "accepted nearliness=2"),
    BrokenBackend("structured_float_masks", STRUCTURED_LIFECYCLE, "has dtype torch.float32, expected torch.bool"),
    BrokenBackend("structured_prune_bias_ignored", STRUCTURED_LIFECYCLE, "expected its bias zeroed"),
    BrokenBackend("structured_saliency_highest", STRUCTURED_PRUNERS, "saliency kept [False, True"),
    BrokenBackend("structured_lstm_units_per_gate", STRUCTURED_PRUNERS, "misaligned gates cannot be pruned exactly"),
    BrokenBackend("structured_fpgm_smallest_norm", STRUCTURED_PRUNERS, "(the geometric median) pruned, not filter 0"),
    BrokenBackend("structured_fpgm_l1_is_l2", STRUCTURED_PRUNERS, "FPGM summed distances (dist=1)"),
    BrokenBackend("structured_fpgm_l1_is_l2", DIFFERENTIAL, "by summed l1 distance", ("-k=test_fpgm_masks",)),
    BrokenBackend("structured_saliency_l2", STRUCTURED_PRUNERS, "rows kept by the L2 norm"),
    BrokenBackend("structured_saliency_l2", DIFFERENTIAL, BEYOND_TIES, ("-k=test_saliency_masks",)),
    BrokenBackend("wanda_layer_wide", ("test_wanda.py",), "Wanda compares weights within each output row"),
    BrokenBackend(
        "wanda_layer_wide", DIFFERENTIAL, "differs from the expected mask: output row", ("-k=test_wanda_masks",)
    ),
    BrokenBackend("structured_bias_not_folded", STRUCTURED_PRUNE, OUTPUT_DIFFERS, FIRST_FAILURE),
    BrokenBackend("structured_prefix_columns", STRUCTURED_PRUNE, OUTPUT_DIFFERS, FIRST_FAILURE),
    BrokenBackend("structured_fold_into_padded_conv", STRUCTURED_PRUNE, OUTPUT_DIFFERS, ONLY_PADDED),
    BrokenBackend("structured_channel_modules_truncated", STRUCTURED_PRUNE, OUTPUT_DIFFERS, ONLY_BATCHNORM),
    BrokenBackend("structured_channel_modules_truncated", STRUCTURED_PRUNE, OUTPUT_DIFFERS, ONLY_LAYERNORM),
    BrokenBackend("structured_channel_modules_truncated", STRUCTURED_PRUNE, OUTPUT_DIFFERS, ONLY_PRELU),
    BrokenBackend("structured_lstm_interleaved_gates", STRUCTURED_PRUNE, OUTPUT_DIFFERS, ONLY_LSTM),
    BrokenBackend("structured_lstm_bias_unmasked", STRUCTURED_PRUNE, NOTHING_REMOVED, ONLY_LSTM),
    BrokenBackend("structured_conv_never_shrunk", STRUCTURED_PRUNE, NOTHING_REMOVED, FIRST_FAILURE),
    BrokenBackend("structured_unshrunk_keeps_mask", STRUCTURED_PRUNE, "lstm: parametrizations on", ONLY_LSTM),
    BrokenBackend("structured_bias_hook_left", STRUCTURED_PRUNE, "forward hook(s)", FIRST_FAILURE),
    BrokenBackend("structured_sizes_not_updated", STRUCTURED_PRUNE, "declared sizes disagree", FIRST_FAILURE),
    BrokenBackend(
        "structured_casts_to_float32",
        PRUNED_MODEL,
        "has dtype torch.float32, expected torch.float16",
        (FLOAT16, *_one_test("test_pruned_parameters_keep_dtype_device_and_grad")),
    ),
    BrokenBackend(
        "structured_params_frozen",
        PRUNED_MODEL,
        "has requires_grad=False, expected True",
        _one_test("test_pruned_parameters_keep_dtype_device_and_grad"),
    ),
    BrokenBackend(
        "structured_plain_tensor_params",
        PRUNED_MODEL,
        "is a plain Tensor, expected an nn.Parameter",
        _one_test("test_pruned_parameters_keep_dtype_device_and_grad"),
    ),
    BrokenBackend(
        "structured_inference_tensors", PRUNED_MODEL, "receive no gradient", _one_test("test_pruned_model_trains")
    ),
    BrokenBackend(
        "structured_eval_after_prune",
        PRUNED_MODEL,
        "is in eval mode, was in train mode",
        _one_test("test_prune_keeps_training_flags"),
    ),
    BrokenBackend(
        "structured_views_of_dense",
        PRUNED_MODEL,
        "a view of a larger tensor",
        _one_test("test_pruned_tensors_own_compact_storage"),
    ),
    BrokenBackend(
        "structured_rescales_unpruned",
        PRUNED_MODEL,
        "modified layers outside every pruned chain",
        _one_test("test_layers_outside_the_chain_are_untouched"),
    ),
    BrokenBackend(
        "structured_unpicklable",
        PRUNED_MODEL,
        "does not survive torch.save",
        _one_test("test_pruned_model_round_trips"),
    ),
    BrokenBackend(
        "structured_not_deepcopyable",
        PRUNED_MODEL,
        "copy.deepcopy of the pruned model fails",
        _one_test("test_pruned_model_round_trips"),
    ),
    BrokenBackend(
        "structured_export_breaks",
        PRUNED_MODEL,
        "torch.export fails on the pruned model but exports the dense one",
        _one_test("test_pruned_model_exports"),
    ),
]

CONTRACT = ("test_contract.py",)


def _contract_check(check: str) -> tuple[str, ...]:
    """Only the broken class's run of one generic check: the one meant to catch the bug."""
    return (f"-k=WeightNormSparsifier and {check}",)


BROKEN_BACKENDS += [
    BrokenBackend(
        "life_step_rescales_bias", CONTRACT, "step changed ['block.1.bias'", _contract_check("step_changes_only_masks")
    ),
    BrokenBackend("life_step_zeroes_original", CONTRACT, "weight.original", _contract_check("step_changes_only_masks")),
    BrokenBackend(
        "life_bool_masks", CONTRACT, "has dtype torch.bool, expected torch.float32", _contract_check("masks_are_binary")
    ),
    BrokenBackend("life_nan_masks", CONTRACT, "values other than 0 and 1", _contract_check("masks_are_binary")),
    BrokenBackend(
        "life_prepare_copies_weight",
        CONTRACT,
        "prepare replaced the Parameter objects",
        _contract_check("prepare_keeps_parameter_objects"),
    ),
    BrokenBackend(
        "life_masks_in_model_state_dict",
        CONTRACT,
        "state_dict carries mask keys",
        _contract_check("model_state_dict_carries_no_masks"),
    ),
    BrokenBackend(
        "life_squash_leaves_buffer",
        CONTRACT,
        "does not load (strict) into a fresh dense model",
        _contract_check("squashed_state_dict_loads_into_dense"),
    ),
    BrokenBackend(
        "life_squash_leaves_closure",
        CONTRACT,
        "torch.save/torch.load of the squashed model failed",
        _contract_check("copies_and_saves_keep_the_model"),
    ),
    BrokenBackend(
        "life_mask_only_at_step",
        CONTRACT,
        "nonzero entries at masked positions",
        _contract_check("masked_positions_stay_zero_in_training"),
    ),
    BrokenBackend(
        "life_squash_rescales_others",
        CONTRACT,
        "which carry no mask",
        _contract_check("squash_changes_only_masked_weights"),
    ),
]
"""The model's life around the masks (generic checks), one broken sparsifier per bullet."""

ONESHOT = ("test_oneshot.py",)


def _preload_oneshot_llama() -> None:
    """Build, run, save and load the one-shot suite's Llama once, now: pytester's in-process runs drop the
    modules first imported inside them, and a dropped ``transformers.models.*`` submodule (or one that
    ``save_pretrained`` / ``from_pretrained`` import) breaks ``transformers``' lazy imports in the next run."""
    if importlib.util.find_spec("transformers") is None:
        return
    from prunebench.suites.oneshot_models import ONESHOT_MODELS

    record = ONESHOT_MODELS["llama"]
    model = record.build("cpu", torch.float32)
    with torch.no_grad(), tempfile.TemporaryDirectory() as directory:
        model(record.batches("cpu", torch.float32)[0])
        model.save_pretrained(directory)
        type(model).from_pretrained(directory, dtype=torch.float16)(record.batches("cpu", torch.float16)[0])


_preload_oneshot_llama()


def _oneshot_check(check: str, model: str = "stack") -> tuple[str, ...]:
    """Only ``check`` of the one-shot suite, on one of its models (the Llama where only a wide layer shows it)."""
    return (f"-k={check} and {model}",)


BROKEN_BACKENDS += [
    BrokenBackend(
        "oneshot_level_of_one_row",
        ONESHOT,
        "one weight per output row",
        _oneshot_check("targeted_layers_reach_the_level"),
    ),
    BrokenBackend(
        "oneshot_ignored_layer_pruned",
        ONESHOT,
        "'lm_head' is in the ignore list",
        _oneshot_check("nothing_else_changes", "llama"),
    ),
    BrokenBackend(
        "oneshot_n_of_m_wrong_dimension", ONESHOT, "weights in row", _oneshot_check("n_of_m_holds_along_inputs")
    ),
    BrokenBackend("oneshot_nondeterministic", ONESHOT, "and seed differ in", _oneshot_check("prune_is_deterministic")),
    BrokenBackend("oneshot_revives_pruned", ONESHOT, "revived", _oneshot_check("later_pass_revives_nothing", "llama")),
    BrokenBackend(
        "oneshot_keeps_lowest_scores",
        ONESHOT,
        "worse than one-shot magnitude",
        _oneshot_check("calibration_beats_magnitude"),
    ),
    BrokenBackend(
        "oneshot_no_weight_update",
        ONESHOT,
        "does not lower the reconstruction error",
        _oneshot_check("weight_update_pays"),
    ),
    BrokenBackend(
        "oneshot_no_weight_update",
        ONESHOT,
        "differ from the definition's",
        ("-k=test_sparsegpt_one_weight_is_the_obs_step",),
    ),
    BrokenBackend(
        "oneshot_mask_only_rescales", ONESHOT, "declares no weight update", _oneshot_check("weight_update_pays")
    ),
    BrokenBackend(
        "oneshot_prunes_without_calibration",
        ONESHOT,
        "raising no error",
        _oneshot_check("needs_calibration_data"),
    ),
    BrokenBackend(
        "oneshot_undamped_hessian", ONESHOT, "inf/NaN values", _oneshot_check("scarce_calibration_stays_finite")
    ),
    BrokenBackend(
        "oneshot_extra_state",
        ONESHOT,
        "does not load into a fresh model",
        _oneshot_check("saves_and_loads"),
    ),
    BrokenBackend(
        "oneshot_float32_hook",
        ONESHOT,
        "does not run in torch.float16",
        _oneshot_check("runs_in_half_precision"),
    ),
    BrokenBackend("sparsegpt_no_lazy_update", ONESHOT, "the definition keeps", ("-k=test_sparsegpt_definition",)),
    BrokenBackend(
        "wanda_n_of_m_ignores_activations",
        ONESHOT,
        "brute force",
        ("-k=test_wanda_n_of_m_definition_by_brute_force",),
    ),
    BrokenBackend(
        "wanda_n_of_m_ignores_activations",
        ONESHOT,
        "uncorrelated inputs",
        ("-k=test_n_of_m_mask_is_optimal_for_uncorrelated_inputs",),
    ),
]
"""One-shot pruners (``suites/test_oneshot.py``), one broken pruner per check, each run on that check alone."""

CONTROL_RUNS = sorted({record.run for record in BROKEN_BACKENDS})


def _run_id(run: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    suites, extra = run
    return "+".join(suite.removeprefix("test_").removesuffix(".py") for suite in suites) + "".join(
        f"-{option.lstrip('-').replace('=', '_')}" for option in extra
    )


def _run(pytester: pytest.Pytester, backend: str, suites: tuple[str, ...], extra: tuple[str, ...]) -> pytest.RunResult:
    return run_suites(pytester, *(str(SUITES / suite) for suite in suites), f"--backend={backend}", *extra)


def test_every_broken_backend_is_in_the_table():
    modules = sorted(info.name for info in pkgutil.iter_modules(broken.__path__) if not info.name.startswith("_"))
    listed = sorted({record.module for record in BROKEN_BACKENDS})
    assert listed == modules, f"tests/broken modules without a record: {sorted(set(modules) - set(listed))}"
    for module in modules:
        namespace = importlib.import_module(f"{broken.__name__}.{module}")
        assert namespace.name == f"broken-{module}", f"tests/broken/{module}.py names itself {namespace.name!r}"


def _record_id(record: BrokenBackend) -> str:
    """The module, plus the ``-k`` filter when one module is checked on several chains."""
    keyword = next((option.removeprefix("-k=") for option in record.extra if option.startswith("-k=")), "")
    return f"{record.module}-{keyword}" if keyword else record.module


@pytest.mark.parametrize("record", BROKEN_BACKENDS, ids=_record_id)
def test_broken_backend_is_caught(pytester, record):
    result = _run(pytester, f"{broken.__name__}.{record.module}", record.suites, record.extra)
    output = result.stdout.str()
    where = f"{' '.join(record.suites + record.extra)}"
    not_caught = f"bug {record.module!r} NOT caught by {where} ({record.bug})"
    assert result.ret != 0, f"{not_caught}: the run exited {result.ret}\n{output}"
    assert result.parseoutcomes().get("failed", 0) > 0, f"{not_caught}: no test failed\n{output}"
    assert record.symptom in output, (
        f"{not_caught} for the right reason: the run failed, but no failure message says {record.symptom!r}\n{output}"
    )


def _control_backend(run: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    """A correct backend for the run: the reference, except where the reference is the oracle itself.

    Differential checks of the reference against itself are not applicable (they pass nothing), so
    their control is ``tests/broken/_control.py``: the reference's rules, unchanged, as subclasses.
    """
    suites, _ = run
    return f"{broken.__name__}._control" if DIFFERENTIAL[0] in suites else "reference"


@pytest.mark.parametrize("run", CONTROL_RUNS, ids=_run_id)
def test_a_correct_backend_passes_the_same_runs(pytester, run):
    suites, extra = run
    control = _control_backend(run)
    result = _run(pytester, control, suites, extra)
    assert result.ret == 0, (
        f"the {control} backend fails {' '.join(suites + extra)}, so failures of the broken backends there "
        f"prove nothing about their bugs\n{result.stdout.str()}"
    )
    assert result.parseoutcomes().get("passed", 0) > 0, (
        f"the {control} backend passes no test of {' '.join(suites + extra)}: a run that checks nothing proves "
        f"nothing\n{result.stdout.str()}"
    )
