"""The quality suite: the reduced check CI runs, and its parts (statistics, cache, registry, report, command).

The check: the MLP on the digits, trained briefly, pruned at two levels on one seed by the reference,
torch, the control (the reference's classes under another name) and ``tests/broken/wn_largest_norm``
(a WeightNormSparsifier that zeroes the largest weights). The broken backend must come out worst, below
random masks, and the check must say so with numbers; the reference must not be worse than torch's
same rule (they compute the same masks), and the control must pass.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import re
import warnings
from pathlib import Path

import pytest
import torch
from prunebench.harness.backend import resolve_backend
from prunebench.harness.cli import main as prunebench_main
from prunebench.harness.errors import UnsupportedError
from prunebench.suites.quality import (
    anchors,
    cache,
    check,
    command,
    failures,
    methods,
    models,
    oneshot_methods,
    protocol,
    report,
    summary,
)
from prunebench.suites.quality.stats import BETTER, WITHIN, WORSE, Spread, paired_difference, verdict
from prunebench.suites.quality.tasks import ACCURACY, PERPLEXITY
from torch import nn

needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None,
    reason="scikit-learn is not installed (the quality extra: pip install 'prunebench[quality]')",
)

BROKEN = "tests.broken.wn_largest_norm"
CONTROL = "tests.broken._control"
CHECK_LEVELS = (0.5, 0.7)
CHECK_MODEL = dataclasses.replace(
    models.FULL["mlp"],
    training=models.Training(steps=150, batch_size=64, learning_rate=3e-3),
    fine_tuning=models.Training(steps=20, batch_size=64, learning_rate=1e-3, warmup_fraction=0.0),
)
"""The reduced check's model: the published MLP, trained 150 steps (about a second) and fine-tuned 20."""


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test, as ``prunebench quality`` runs: two threads crawl on a loaded 2-core machine."""
    with command.torch_threads(1):
        yield


def _magnitude_and_floor(backend_names: list[str]) -> tuple[methods.PruningMethod, ...]:
    found = [m for name in backend_names for m in methods.methods_of(resolve_backend(name))[0]]
    chosen = [m for m in found if m.rule is methods.MAGNITUDE]
    return tuple(chosen + methods.floor_methods()[:1])


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> summary.ModelSummary:
    """The reduced grid, run once for every test of the check."""
    plan = protocol.Plan(
        models=(CHECK_MODEL,),
        methods=_magnitude_and_floor(["reference", "torch", CONTROL, BROKEN]),
        not_run=(),
        seeds=(0,),
        targets=protocol.targets(CHECK_LEVELS, n_m=False, structured_levels=()),
        cache_dir=tmp_path_factory.mktemp("quality-cache"),
    )
    with command.torch_threads(1):  # module-scoped: set up before the autouse fixture of the first test
        grid = protocol.run_plan(plan, progress=lambda line: None)
    return summary.summarize(grid, {"mlp": ACCURACY})["mlp"]


@needs_sklearn
def test_check_ranks_the_backend_that_prunes_the_largest_weights_worst(checked):
    found = check.problems(checked, "reference")
    broken = [p for p in found if "broken-wn_largest_norm magnitude" in p]
    # one problem per level and stage; fine-tuning cannot bring back weights held at zero
    assert len(broken) == 2 * len(CHECK_LEVELS), "\n".join(found) or "the check found nothing"
    for problem in broken:
        assert "(worst)" in problem and "below floor random" in problem, problem
        assert re.search(r"\d+\.\d ± \d+\.\d% against reference magnitude \d+\.\d", problem), problem
    for level in map(str, CHECK_LEVELS):
        worst, _ = check.ranking(checked, methods.UNSTRUCTURED, level, check.ONE_SHOT)[0]
        assert worst.backend == "broken-wn_largest_norm", f"worst at {level}: {worst.method}"


@needs_sklearn
def test_check_passes_correct_backends_and_the_reference_is_not_worse_than_torch(checked):
    found = check.problems(checked, "reference")
    assert not [p for p in found if "broken" not in p], "\n".join(found)
    against_torch = check.problems(checked, "torch")
    assert not [p for p in against_torch if ": reference magnitude" in p], "\n".join(against_torch)
    equal = [c for c in check.compare_to(checked, "reference") if c.method.backend in ("torch", "control")]
    assert equal and all(c.verdict == WITHIN and c.equal_cost for c in equal), [
        check.describe(checked, c) for c in equal
    ]


def test_spread_and_paired_verdicts():
    spread = Spread.of([90.0, 92.0, 94.0])
    assert (spread.mean, spread.std, spread.count) == (92.0, 2.0, 3)
    with pytest.raises(ValueError, match="at least one value"):
        Spread.of([])
    # seeds far apart (each seed's dense model differs), one method always ~1 point above: paired, that is a difference
    a, b = {0: 91.0, 1: 81.1, 2: 71.0}, {0: 90.0, 1: 80.0, 2: 70.1}
    assert paired_difference(a, b).mean == pytest.approx(1.0)
    assert verdict(a, b, higher_is_better=True) == BETTER and verdict(b, a, higher_is_better=True) == WORSE
    assert verdict(a, b, higher_is_better=False) == WORSE
    assert verdict(a, b, higher_is_better=True, noise_floor=1.0) == WITHIN
    # differences that change sign are within the spread; seeds only one side has are ignored
    assert verdict({0: 91.0, 1: 79.0, 5: 0.0}, b, higher_is_better=True) == WITHIN
    assert verdict({0: float("nan")}, {0: 1.0}, higher_is_better=True) == WITHIN
    assert (
        verdict({3: 1.0}, {0: 1.0}, higher_is_better=True) == WITHIN and paired_difference({3: 1.0}, {0: 1.0}) is None
    )


def test_registry_gives_any_backend_the_rules_it_provides():
    found, not_run = methods.methods_of(resolve_backend(CONTROL))
    assert [m.rule.name for m in found] == ["magnitude", "Wanda", "L1 rows", "FPGM", "SparseGPT"]
    assert {n.name for n in not_run} == {"NearlyDiagonalSparsifier", "LSTMSaliencyPruner"}
    nn_utils, _ = methods.methods_of(resolve_backend("nn-utils-prune"))
    assert [m.rule.name for m in nn_utils] == ["magnitude", "global magnitude"]
    wanda = found[1]
    two_of_four = methods.Target(methods.UNSTRUCTURED, 0.5, (2, 4))
    assert "Linear weights only" in wanda.not_applicable(two_of_four, [nn.Linear, nn.Conv2d])
    assert wanda.not_applicable(two_of_four, [nn.Linear]) is None
    assert "no N:M pattern" in nn_utils[1].not_applicable(two_of_four, [nn.Linear])


def _job(model: nn.Module, target: methods.Target) -> methods.PruningJob:
    inputs = (torch.randn(4, 16),)
    return methods.PruningJob(model, ("0", "2"), target, [inputs], inputs, seed=0)


def _mlp() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))


@pytest.mark.parametrize("rule", ["magnitude", "Wanda", "random", "SparseGPT"])
@pytest.mark.parametrize(
    "target", [methods.Target(methods.UNSTRUCTURED, 0.75), methods.Target(methods.UNSTRUCTURED, 0.5, (2, 4))]
)
def test_unstructured_methods_reach_their_target(rule, target):
    everything = methods.methods_of(resolve_backend("reference"))[0] + methods.floor_methods()
    method = next(m for m in everything if m.rule.name == rule)
    model = method.prune(_job(_mlp(), target))
    for fqn in ("0", "2"):
        weight = model.get_submodule(fqn).weight
        assert not hasattr(model.get_submodule(fqn), "parametrizations"), "masks must be baked in"
        if target.n_m:
            assert ((weight.reshape(-1, 4) == 0).sum(dim=1) == 2).all(), f"{rule} {fqn}: not 2 zeros in every 4"
        else:
            assert (weight == 0).float().mean().item() == pytest.approx(0.75), f"{rule} {fqn}"


def test_structured_method_removes_rows_and_random_rows_differ_by_seed():
    structured = methods.Target(methods.STRUCTURED, 0.25)
    saliency = next(m for m in methods.methods_of(resolve_backend("reference"))[0] if m.rule is methods.SALIENCY)
    pruned = saliency.prune(_job(_mlp(), structured))
    assert (pruned.get_submodule("0").out_features, pruned.get_submodule("2").out_features) == (24, 12)
    random_rows = methods.floor_methods()[1]
    kept = []
    for seed in (0, 1):
        job = dataclasses.replace(_job(_mlp(), structured), seed=seed)
        kept.append(random_rows.prune(job).get_submodule("0").weight.detach().clone())
    assert kept[0].shape == kept[1].shape == (24, 16) and not torch.equal(kept[0], kept[1])


def test_failures_are_classified_and_unknown_ones_say_so():
    conv = "RuntimeError: shape '[1, 1, 144]' is invalid for input of size 9"
    assert failures.classify("torchao", "magnitude", conv).startswith("library limit: WeightNormSparsifier builds")
    assert failures.classify("my_pkg", "magnitude", conv) == f"unclassified: {conv}"
    assert failures.classify("torch", "magnitude", "ValueError: new").startswith("unclassified")


@needs_sklearn
def test_a_failing_method_is_recorded_with_its_message():
    def raises(job: methods.PruningJob) -> nn.Module:
        raise RuntimeError("line one\nline two of a long message")

    method = methods.PruningMethod("mine", methods.MAGNITUDE, raises, "raises")
    point = _point()
    cell = protocol.run_cell(point, method, methods.Target(methods.UNSTRUCTURED, 0.5))
    assert cell.status == protocol.FAILS and cell.reason == "RuntimeError: line one line two of a long message"
    assert cell.one_shot is None


def _point() -> protocol.Point:
    task = CHECK_MODEL.make_task()
    dense = models.seeded_build(CHECK_MODEL, 0)
    layers = CHECK_MODEL.configured_layers(dense)
    return protocol.Point(CHECK_MODEL, task, dense, layers, (nn.Linear,), task.calibration(1, 8, torch.Generator()), 0)


@needs_sklearn
def test_fine_tuning_keeps_pruned_weights_at_zero():
    point = _point()
    method = methods.methods_of(resolve_backend("reference"))[0][0]
    job = protocol.PruningJob(
        copy.deepcopy(point.dense),
        point.layers,
        methods.Target(methods.UNSTRUCTURED, 0.6),
        [],
        point.task.example_inputs(),
        0,
    )
    pruned = method.prune(job)
    before = {fqn: pruned.get_submodule(fqn).weight.detach().clone() for fqn in point.layers}
    from prunebench.suites.quality.training import frozen_zeros, optimize

    optimize(
        pruned,
        point.task,
        CHECK_MODEL.fine_tuning,
        torch.Generator().manual_seed(0),
        frozen_zeros(pruned, point.layers),
    )
    for fqn, weight in before.items():
        after = pruned.get_submodule(fqn).weight
        assert torch.equal(after == 0, weight == 0), f"{fqn}: zeros moved during fine-tuning"
        assert not torch.equal(after, weight), f"{fqn}: fine-tuning changed nothing"


SHORT = dataclasses.replace(CHECK_MODEL, training=dataclasses.replace(CHECK_MODEL.training, steps=10))


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


@needs_sklearn
def test_training_is_deterministic_and_cached_by_its_key(tmp_path):
    task = SHORT.make_task()
    first = cache.trained_model(SHORT, task, 0, tmp_path / "a")
    elsewhere = cache.trained_model(SHORT, task, 0, tmp_path / "b")
    again = cache.trained_model(SHORT, task, 0, tmp_path / "a")
    assert not first.from_cache and not elsewhere.from_cache and again.from_cache and first.path == again.path
    assert _same_weights(first.model, elsewhere.model), "two trainings from one seed differ"
    assert _same_weights(first.model, again.model), "the cached checkpoint is not the trained model"
    assert not _same_weights(first.model, cache.trained_model(SHORT, task, 1, tmp_path / "a").model)
    longer = dataclasses.replace(SHORT, training=dataclasses.replace(SHORT.training, steps=11))
    assert cache.checkpoint_key(longer, task, 0).digest() != first.key.digest()
    other_data = dataclasses.replace(first.key, data_sha256="0" * 64)
    assert other_data.digest() != first.key.digest()
    first.path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="could not be loaded"):
        retrained = cache.trained_model(SHORT, task, 0, tmp_path / "a")
    assert not retrained.from_cache and _same_weights(retrained.model, elsewhere.model)


def test_default_cache_dir_is_outside_the_repository(monkeypatch):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/somewhere")
    assert cache.default_cache_dir() == Path("/tmp/somewhere/prunebench/quality")
    monkeypatch.setenv(cache.CACHE_ENV, "/tmp/mine")
    assert cache.default_cache_dir() == Path("/tmp/mine")


def _row(method: str, target: str, one_shot: list[float], backend: str = "reference", rule: str = "magnitude"):
    seeds = dict(enumerate(one_shot))
    return summary.Row(
        "lm",
        method,
        backend,
        rule,
        methods.UNSTRUCTURED,
        target,
        0.5,
        protocol.OK,
        "",
        one_shot=Spread.of(one_shot),
        fine_tuned=Spread.of(one_shot),
        kept_weights=Spread.of([0.5]),
        per_seed={summary.ONE_SHOT: seeds, summary.FINE_TUNED: seeds},
    )


def _lm_summary(rows: list[summary.Row]) -> summary.ModelSummary:
    return summary.ModelSummary("lm", PERPLEXITY, Spread.of([5.0, 5.1]), Spread.of([5.0, 5.1]), (), tuple(rows))


def test_anchors_reproduced_not_reproduced_and_not_measured():
    rows = [
        _row("reference magnitude", "0.5", [7.0, 7.1]),
        _row("reference magnitude", "2:4", [20.0, 21.0]),
        _row("reference Wanda", "0.5", [6.0, 6.1], rule="Wanda"),
        _row("reference Wanda", "2:4", [15.0, 15.5], rule="Wanda"),
    ]
    outcome = {c.claim: c.outcome for c in anchors.check_anchors(_lm_summary(rows), {"Wanda"})}
    assert outcome == {
        "reference Wanda loses less than reference magnitude at 0.5": anchors.REPRODUCED,
        "reference Wanda loses much less than reference magnitude at 2:4": anchors.NOT_REPRODUCED,  # +10.2 vs +15.4
        "reference magnitude: 2:4 loses more than 50% unstructured": anchors.REPRODUCED,
        "reference Wanda: 2:4 loses more than 50% unstructured": anchors.REPRODUCED,
    }
    only_half = _lm_summary(rows[:1] + rows[2:3])
    claims = anchors.check_anchors(only_half, {"Wanda"})
    assert [c.outcome for c in claims if "2:4" in c.claim] == [anchors.NOT_MEASURED] * 3
    assert anchors.check_anchors(_lm_summary(rows[:2]), {"Wanda"})[0].outcome == anchors.NOT_MEASURED


def test_ranking_keeps_structures_apart():
    rows = [_row("reference magnitude", "0.5", [7.0]), _row("floor random", "0.5", [9.0], backend="floor")]
    structured = dataclasses.replace(_row("reference L1 rows", "0.5", [30.0], rule="L1 rows"), structure="structured")
    lm = _lm_summary([*rows, structured])
    ranked = [row.method for row, _ in check.ranking(lm, methods.UNSTRUCTURED, "0.5", check.ONE_SHOT)]
    assert ranked == ["floor random", "reference magnitude"]  # perplexity: the highest is the worst
    assert [row.method for row, _ in check.ranking(lm, methods.STRUCTURED, "0.5", check.ONE_SHOT)] == [
        "reference L1 rows"
    ]


def test_report_escapes_what_a_backend_controls():
    hostile = "evil|name\n# heading <b>"
    rows = [_row("reference magnitude", "0.5", [7.0]), _row(f"{hostile} magnitude", "0.5", [9.0], backend=hostile)]
    failing = dataclasses.replace(
        rows[1], target="0.9", status=protocol.FAILS, reason="Boom | `x`\n## y", one_shot=None, fine_tuned=None
    )
    text = report.headline_table(_lm_summary([*rows, failing]), methods.UNSTRUCTURED)
    assert "\n# heading" not in text and "<b>" not in text and "evil\\|name" in text
    assert "Boom \\| \\`x\\` ## y" in text, text
    for line in text.splitlines()[2:4]:
        assert line.count("|") - line.count("\\|") == 4, line


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--levels=0.5,1.5", "'1.5' is not a level strictly between 0 and 1"),
        ("--structured-levels=abc", "'abc' is not a level"),
        ("--seeds=0", "expected a number of seeds"),
        ("--models=mlp,resnet", "expected a comma-separated list of cnn, mlp, lm"),
        ("--backend=", "--backend is empty"),
        ("--out=report.txt", "expected a Markdown file name ending in .md"),
        ("--threads=0", "--threads=0: expected at least 1"),
    ],
)
def test_usage_errors_exit_4_and_write_nothing(tmp_path, capsys, monkeypatch, option, message):
    monkeypatch.chdir(tmp_path)
    status = prunebench_main(
        ["quality", "--quick", "--models=mlp", "--backend=reference", option, f"--cache-dir={tmp_path / 'cache'}"]
    )
    assert status == 4 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "a usage error left files behind"


def test_reproduce_command_names_the_grid():
    parser = command.argparse.ArgumentParser()
    command.add_arguments(parser)
    text = command.reproduce_command(parser.parse_args(["--quick", "--backend=my pkg"]))
    assert text.startswith("prunebench quality '--backend=my pkg' --models=cnn,mlp,lm --seeds=1 --levels=0.5,0.9")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert command.parse_levels("--levels", "0.5, 0.5,0.6") == (0.5, 0.6)


def test_oneshot_records_add_the_rules_the_contract_classes_do_not_give():
    """The reference's SparseGPTSparsifier is a row; its one-shot Wanda and magnitude records are not (its
    WandaSparsifier and WeightNormSparsifier give those rules already)."""
    found, _ = methods.methods_of(resolve_backend("reference"))
    by_rule = {m.rule.name: [x.call for x in found if x.rule.name == m.rule.name] for m in found}
    assert all(len(calls) == 1 for calls in by_rule.values()), by_rule
    sparsegpt = next(m for m in found if m.rule.name == "SparseGPT")
    assert sparsegpt.rule.calibrated and sparsegpt.rule.layer_types == (nn.Linear,)
    assert "Linear weights only" in sparsegpt.not_applicable(methods.Target(methods.UNSTRUCTURED, 0.5), [nn.Conv2d])
    assert oneshot_methods.pattern_of(methods.Target(methods.UNSTRUCTURED, 0.5, (2, 4))).label == "2:4"


def test_a_oneshot_record_that_prunes_a_layer_left_out_fails_its_cell():
    """``tests/broken/oneshot_ignored_layer_pruned`` prunes the head the configuration leaves out: its numbers would
    not compare with the other methods', so the method raises with the layer's name."""
    broken = resolve_backend("tests.broken.oneshot_ignored_layer_pruned")
    sparsegpt = next(m for m in methods.methods_of(broken)[0] if m.rule.name == "SparseGPT")
    with pytest.raises(RuntimeError, match=r"pruned 4, which it was told to leave whole"):
        sparsegpt.prune(_job(_mlp(), methods.Target(methods.UNSTRUCTURED, 0.5)))


@needs_sklearn
def test_a_method_declaring_the_model_unsupported_is_not_applicable_not_failed():
    def refuses(job: methods.PruningJob) -> nn.Module:
        raise UnsupportedError("prunes transformers models only")

    method = methods.PruningMethod("mine", oneshot_methods.SPARSEGPT, refuses, "refuses")
    cell = protocol.run_cell(_point(), method, methods.Target(methods.UNSTRUCTURED, 0.5))
    assert cell.status == protocol.NOT_APPLICABLE and "transformers models only" in cell.reason
