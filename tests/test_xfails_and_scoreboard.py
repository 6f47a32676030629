"""Unit tests for expected-failure parsing/matching and scoreboard classification."""

from __future__ import annotations

import pytest
from prunebench.harness.cell import backend_free_id, seed_of, suite_of
from prunebench.harness.errors import UsageError
from prunebench.harness.outcome import CRASHED_PHASE, OUTCOME_ATTRIBUTE, outcome_of
from prunebench.harness.scoreboard import Scoreboard
from prunebench.harness.xfails import builtin_xfails_file, load_xfails, match_xfail, parse_xfails


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


def _report(when: str, outcome: str, longrepr: object = None, **attributes: object) -> pytest.TestReport:
    report = pytest.TestReport("m.py::t[b-cpu]", ("m.py", 1, "t"), {}, outcome, longrepr, when)
    for name, value in attributes.items():
        setattr(report, name, value)
    return report


@pytest.mark.parametrize(
    ("when", "outcome", "attributes", "expected"),
    [
        ("call", "passed", {}, "passed"),
        ("setup", "passed", {}, None),
        ("call", "failed", {}, "failed"),
        ("teardown", "failed", {}, "failed"),
        ("setup", "skipped", {OUTCOME_ATTRIBUTE: "unsupported"}, "unsupported"),
        ("setup", "skipped", {OUTCOME_ATTRIBUTE: "not_applicable"}, "not_applicable"),
        ("setup", "skipped", {}, "skipped"),
        ("call", "skipped", {"wasxfail": "known bug"}, "xfailed"),
        ("call", "passed", {"wasxfail": "known bug"}, "xpassed"),
        ("call", "failed", {OUTCOME_ATTRIBUTE: "xpassed"}, "xpassed"),
        (CRASHED_PHASE, "failed", {}, "crashed"),
    ],
)
def test_outcome_of(when, outcome, attributes, expected):
    assert outcome_of(_report(when, outcome, **attributes)) == expected


def test_skip_reasons_are_not_read_for_outcomes():
    """A skip whose message merely says "unsupported:" is a plain skip: only the harness's record counts."""
    looks_unsupported = _report("setup", "skipped", ("m.py", 1, "Skipped: unsupported: lacks X"))
    assert outcome_of(looks_unsupported) == "skipped"


def test_seeds_do_not_depend_on_backend_or_device():
    ids = [backend_free_id("m.py::t[torch-cpu-float32-x]", "torch", "cpu"), "m.py::t[float32-x]"]
    assert ids[0] == "m.py::t[cpu-float32-x]"
    assert seed_of("m.py::t[float32-x]") == seed_of(ids[1])


def test_suite_of_strips_path_and_prefix():
    assert suite_of("suites/sub/test_weight_norm.py") == "weight_norm"


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


def test_a_backend_that_passes_nothing_is_flagged():
    board = Scoreboard()
    board.record("noop", "step", "xfailed", "claimed broken")
    board.record("noop", "prepare", "unsupported", "lacks it")
    board.record("reference", "step", "passed")
    assert board.backends_without_a_pass() == ["noop"]
    assert "backend 'noop' passed no test" in board.render()
