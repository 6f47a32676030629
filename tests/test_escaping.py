"""Strings a backend controls are rendered inertly: Markdown, HTML, CSV and the pasted reproduction command."""

from __future__ import annotations

import re
import shlex

import pytest
from prunebench.harness.escaping import csv_cell, markdown_code, markdown_fence, markdown_inline
from prunebench.harness.report import Failure, failures_markdown, scoreboard_markdown
from prunebench.harness.scoreboard import Scoreboard

HOSTILE = "evil|name\n# Injected heading\n```\n<script>x</script> $(touch /tmp/pwned) `id`"


def test_inline_text_cannot_start_a_line_or_add_a_column():
    text = markdown_inline(HOSTILE)
    assert "\n" not in text and "|" not in text.replace("\\|", ""), text
    assert "<script>" not in text and "`" not in text.replace("\\`", ""), text


def test_code_spans_and_fences_outlast_any_backtick_run():
    assert markdown_code("a``b") == "```a``b```"
    fenced = markdown_fence("before\n````\nafter")
    opening, *_, closing = fenced.splitlines()
    assert opening.startswith("`````") and closing == "`````", fenced


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+1", "-1+2", "@SUM(A1)"])
def test_csv_formulas_are_neutralised(value):
    assert csv_cell(value) == "'" + value


def test_report_renders_a_hostile_backend_inertly():
    board = Scoreboard()
    board.record(HOSTILE, "step", "failed")
    failure = Failure(f"suites/test_step.py::test_x[{HOSTILE}]", HOSTILE, 1, HOSTILE, (f"--backend={HOSTILE}",))
    scoreboard = scoreboard_markdown(board, [{"name": HOSTILE, "version": "1\n# v", "source": HOSTILE}], {})
    failures = failures_markdown([failure])
    for document in (scoreboard, failures):
        outside_fences = re.sub(r"(`{3,})[a-z]*\n.*?\n\1(?=\n|$)", "", document, flags=re.S)
        assert "\n# Injected" not in outside_fences and "\n# v" not in outside_fences, outside_fences
    table_rows = [line for line in scoreboard.splitlines() if line.startswith("|")]
    assert len({line.count("|") - line.count("\\|") for line in table_rows}) == 1, "a backend string added columns"
    command = failure.command()
    words = shlex.split(command)
    assert words[3] == f"suites/test_step.py::test_x[{HOSTILE}]" and words[4] == f"--backend={HOSTILE}", words


def test_reproduction_command_quotes_paths_with_spaces():
    failure = Failure(
        "/home/a user/suites/test_step.py::test_x[reference-cpu]", "reference", 1, "m", ("--backend=reference",)
    )
    assert shlex.split(failure.command())[3] == "/home/a user/suites/test_step.py::test_x[reference-cpu]"
