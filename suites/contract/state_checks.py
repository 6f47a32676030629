"""State checks: what ``step()`` computes depends only on the model and the sparsifier's ``state_dict()``.

Rule-agnostic: whatever a class selects, a fresh instance given the same model and the same saved
state must select the same, and a run saved halfway and resumed in a fresh process must end where the
uninterrupted run ends. That is what a training pipeline relies on when it checkpoints, and it is what
masks computed once and reused, caches keyed by ``id(module)``, and step counters or schedules kept
outside ``state`` all break. Between steps the weights change in place, as an optimizer's do.

A rule that keeps what it masked (torch's WeightNorm and Saliency score the masked weight, so a masked
entry scores zero) computes the same masks again while its level stays: for it, masks reused from an
earlier step are indistinguishable here, and the differential trajectory (which raises the level)
tells them apart. A class that declares ``calibration`` (Wanda, SparseGPT) scores weights with statistics recorded by
calibration forwards, which a ``state_dict`` need not carry; for it only ``embed`` is compared, the
layer fed by the model's input, whose statistics the same calibration batch reproduces whatever the
model's state. A class that declares ``deterministic: False`` has torch's generator seeded alike before
each compared step.
"""

from __future__ import annotations

from typing import Any

import torch
from prunebench.harness.subjects import Subject
from torch import nn

from ..checks import assert_masks_equal
from .lifecycle_checks import saved_and_loaded
from .registry import Check
from .workbench import BENCH_NAMES, CONFIGURED, Bench, bench_for, calibrated_step, masks, prepared, redraw_weights

STEP_SEED = 0
"""Seed of torch's generator before each compared step of a class declaring ``deterministic: False``."""
RESUME_FROM = 1
"""Steps run before the interruption: in the middle of a declared schedule. The run ends when the schedule
does, not after it: past its end, a resumed run that restarted its schedule would have caught up."""


def _compared_layers(subject: Subject) -> tuple[str, ...]:
    return CONFIGURED[:1] if subject.tags.calibration else CONFIGURED


def _step(subject: Subject, sparsifier: Any, model: nn.Module, bench: Bench) -> None:
    if not subject.tags.deterministic:
        torch.manual_seed(STEP_SEED)
    calibrated_step(sparsifier, model, bench)


def _twin(
    subject: Subject, bench: Bench, model_state: dict, state_dict: dict, device: str, dtype: torch.dtype
) -> tuple:
    """A fresh model that loaded ``model_state`` and a fresh sparsifier that loaded ``state_dict``."""
    twin, sparsifier = prepared(subject, bench, device, dtype, seed=7, stepped=False)
    twin.load_state_dict(model_state, strict=False)  # a masked model's values, whatever its masks' keys
    sparsifier.load_state_dict(state_dict)
    return twin, sparsifier


def _assert_same_masks(subject: Subject, expected: nn.Module, actual: nn.Module, context: str, hint: str) -> None:
    layers = _compared_layers(subject)
    for layer, mask in masks(expected, layers).items():
        assert_masks_equal(masks(actual, (layer,))[layer], mask, f"{layer}.weight", f"{context}; {hint}")


def step_depends_only_on_model_and_state(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """After a step and a change of the weights, a fresh instance that loaded the state_dict onto a copy
    of the model steps to the masks the original steps to."""
    bench = bench_for(subject, case)
    model, sparsifier = prepared(subject, bench, device, dtype, stepped=False)
    _step(subject, sparsifier, model, bench)
    saved = saved_and_loaded(sparsifier.state_dict(), weights_only=False)
    redraw_weights(model, CONFIGURED, seed=1)
    twin, twin_sparsifier = _twin(subject, bench, model.state_dict(), saved, device, dtype)
    _step(subject, sparsifier, model, bench)
    _step(subject, twin_sparsifier, twin, bench)
    _assert_same_masks(
        subject,
        twin,
        model,
        "the original's masks after the weights changed, vs a fresh instance given the same weights and state_dict",
        "step() used something outside the model and the state_dict (masks reused from an earlier step, a cache "
        "keyed by id(), a counter outside `state`)",
    )


def _run(subject: Subject, bench: Bench, model: nn.Module, sparsifier: Any, steps: range) -> None:
    """Steps ``steps`` of a trajectory, the weights redrawn after each as an optimizer would change them."""
    for index in steps:
        _step(subject, sparsifier, model, bench)
        redraw_weights(model, CONFIGURED, seed=100 + index)


def resumed_run_equals_uninterrupted(subject: Subject, device: str, dtype: torch.dtype, case: str) -> None:
    """A run saved after its first step (model and sparsifier ``state_dict`` through ``torch.save``),
    resumed in a fresh model and sparsifier and continued, ends with the uninterrupted run's masks."""
    bench = bench_for(subject, case)
    model, sparsifier = prepared(subject, bench, device, dtype, stepped=False)
    total = max(subject.tags.steps_for(sparsifier), RESUME_FROM + 1)  # ends as the schedule does: a restart shows
    _run(subject, bench, model, sparsifier, range(total))

    interrupted, first_sparsifier = prepared(subject, bench, device, dtype, stepped=False)
    _run(subject, bench, interrupted, first_sparsifier, range(RESUME_FROM))
    checkpoint = saved_and_loaded(
        {"model": interrupted.state_dict(), "sparsifier": first_sparsifier.state_dict()}, weights_only=False
    )
    resumed, resumed_sparsifier = _twin(subject, bench, checkpoint["model"], checkpoint["sparsifier"], device, dtype)
    _run(subject, bench, resumed, resumed_sparsifier, range(RESUME_FROM, total))
    _assert_same_masks(
        subject,
        model,
        resumed,
        f"a run of {total} steps saved after step {RESUME_FROM} and resumed in a fresh instance, vs the same run "
        "uninterrupted",
        "what step() depends on must be saved by state_dict() and restored by load_state_dict() (a schedule's "
        "step count in `state`, not in an attribute)",
    )


STATE: list[Check] = [
    Check(
        "step_depends_only_on_model_and_state",
        step_depends_only_on_model_and_state,
        ("state_dict", "load_state_dict"),
        BENCH_NAMES,
    ),
    Check(
        "resumed_run_equals_uninterrupted",
        resumed_run_equals_uninterrupted,
        ("state_dict", "load_state_dict"),
        BENCH_NAMES,
    ),
]
"""Checks that a step is a function of the model and the saved state, for every subject."""
