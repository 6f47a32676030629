"""Unit tests for expected-failure parsing/matching and scoreboard classification."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.scoreboard import Scoreboard, classify, suite_of
from harness.xfails import match_xfail, parse_xfails


def test_parse_skips_comments_and_blank_lines():
    entries = parse_xfails("# c\n\nmod.py::t[a- | why\n", "f")
    assert [(e.prefix, e.reason, e.source) for e in entries] == [("mod.py::t[a-", "why", "f:3")]


@pytest.mark.parametrize("line", ["no bar here", "| reason without prefix", "prefix without reason |"])
def test_parse_rejects_malformed_lines(line):
    with pytest.raises(UsageError, match="f:1"):
        parse_xfails(line, "f")


@pytest.mark.parametrize(
    ("prefix", "test_id", "expected"),
    [
        ("m.py::t[torch-", "m.py::t[torch-cpu-float32]", True),
        ("m.py::t[torch-", "m.py::t[reference-cpu-float32]", False),
        ("m.py::t[torch-*-float16", "m.py::t[torch-cuda-float16-x]", True),
        ("m.py::t[torch-*16-1x1", "m.py::t[torch-cpu-bfloat16-1x1]", True),
        ("m.py::t[torch-*16-1x1", "m.py::t[torch-cpu-float32-1x1]", False),
        ("m.py::t[ab]", "m.py::t[a]", False),  # brackets are literal, not a character class
    ],
)
def test_matching(prefix, test_id, expected):
    entries = parse_xfails(f"{prefix} | r", "f")
    assert (match_xfail(test_id, entries) is not None) is expected
    assert entries[0].matched == int(expected)


@pytest.mark.parametrize(
    ("when", "outcome", "reason", "wasxfail", "expected"),
    [
        ("call", "passed", None, False, "passed"),
        ("setup", "passed", None, False, None),
        ("call", "failed", None, False, "failed"),
        ("teardown", "failed", None, False, "failed"),
        ("setup", "skipped", "unsupported: backend 'x' does not provide FPGMPruner", False, "unsupported"),
        ("setup", "skipped", "cuda: no CUDA GPU", False, "skipped"),
        ("call", "skipped", "known bug", True, "xfailed"),
        ("call", "passed", None, True, "xpassed"),
    ],
)
def test_classify(when, outcome, reason, wasxfail, expected):
    assert classify(when, outcome, reason, wasxfail) == expected


def test_strict_xpass_counts_as_xpassed_not_failed():
    assert classify("call", "failed", None, False, strict_xpass=True) == "xpassed"


def test_suite_of_strips_path_and_prefix():
    assert suite_of("suites/sub/test_weight_norm.py::test_x[a]") == "weight_norm"


def test_scoreboard_render_lists_reasons():
    board = Scoreboard()
    board.record("b", "step", "passed")
    board.record("b", "step", "unsupported", "unsupported: lacks X")
    text = board.render()
    assert "unsupported" in text and "lacks X" in text and "step" in text
    assert board.total("passed") == 1


@pytest.mark.parametrize(
    "line",
    [
        "suites/test_step.py::test_step_applies_update_mask[torch- | copied from pytest's output",
        "/abs/path/suites/test_step.py::test_step_applies_update_mask[torch- | absolute",
        "test_step.py::test_step_applies_update_mask[torch- | the documented form",
    ],
)
def test_entries_naming_the_directory_match_like_bare_ones(line):
    (entry,) = parse_xfails(line, "f")
    assert entry.prefix == "test_step.py::test_step_applies_update_mask[torch-"
    assert match_xfail("test_step.py::test_step_applies_update_mask[torch-cpu]", [entry]) is entry
