"""Unit tests for expected-failure parsing/matching and scoreboard classification."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.plugin import backend_free_id
from harness.scoreboard import Scoreboard, classify, suite_of
from harness.xfails import builtin_xfails_file, load_xfails, match_xfail, parse_xfails


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


@pytest.mark.parametrize(
    ("test_id", "backend_name", "expected"),
    [
        ("m.py::t[torch-cpu-float32]", "torch", "m.py::t[cpu-float32]"),
        ("m.py::t[torch-pruning-cpu]", "torch-pruning", "m.py::t[cpu]"),
        ("m.py::t[torch-pruning-cpu]", "torch", "m.py::t[pruning-cpu]"),
        ("m.py::t[torch]", "torch", "m.py::t"),
        ("m.py::t[reference-cpu]", "torch", "m.py::t[reference-cpu]"),
    ],
)
def test_entries_match_ids_without_the_backend(test_id, backend_name, expected):
    assert backend_free_id(test_id, backend_name) == expected


def test_include_pulls_in_a_builtin_file_and_a_relative_one(tmp_path):
    (tmp_path / "shared.xfails").write_text("m.py::shared[ | library bug: shared\n")
    mine = tmp_path / "mine.xfails"
    mine.write_text("include torch\ninclude shared.xfails\nm.py::own[ | library bug: mine\n")
    entries = load_xfails(mine)
    torch_entries = load_xfails(builtin_xfails_file("torch"))
    assert [e.prefix for e in entries] == [e.prefix for e in torch_entries] + ["m.py::shared[", "m.py::own["]
    assert entries[-2].source.endswith("shared.xfails:1"), "an included entry must name the file it came from"


@pytest.mark.parametrize(
    ("text", "message"),
    [("include nowhere.xfails\n", "names neither a built-in backend"), ("include mine.xfails\n", "includes itself")],
    ids=["missing", "cycle"],
)
def test_bad_includes_are_usage_errors(tmp_path, text, message):
    mine = tmp_path / "mine.xfails"
    mine.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_xfails(mine)


def test_not_applicable_is_its_own_outcome():
    assert classify("setup", "skipped", "not applicable: the reference is the oracle", False) == "not_applicable"
    assert classify("setup", "skipped", "unsupported: no WandaSparsifier", False) == "unsupported"


def test_a_backend_that_passes_nothing_is_flagged():
    board = Scoreboard()
    board.record("noop", "step", "xfailed", "claimed broken")
    board.record("noop", "prepare", "unsupported", "lacks it")
    board.record("reference", "step", "passed")
    assert board.backends_without_a_pass() == ["noop"]
    assert "backend 'noop' passed no test" in board.render()
