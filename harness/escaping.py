"""Rendering strings a backend controls (names, versions, messages, test ids) inertly in our outputs.

A backend's name, version or failure message may hold anything: a newline that starts a Markdown
heading, a ``|`` that adds a table column, a code fence that ends ours, HTML, a spreadsheet formula.
Every writer of Markdown, HTML and CSV passes such strings through here; shell commands are built
with ``shlex`` where they are made (``report.Failure.command``).
"""

from __future__ import annotations

import html
import re
from typing import Any

MARKDOWN_SPECIAL = re.compile(r"([\\`\[\]|<>])")
"""Characters that change structure inside one line of Markdown: code, links, table cells, HTML.
(Emphasis markers are left alone: at worst they italicise, and escaping them would clutter every name.)"""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What spreadsheet programs read as the start of a formula in a CSV cell."""


def encodable(text: str) -> str:
    """``text`` with every character UTF-8 cannot encode (a lone surrogate, e.g. from an undecodable file
    name) written as its backslash escape: files, JSON documents and xdist's channel all need UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def encodable_data(value: Any) -> Any:
    """``value`` (nested dicts, lists, tuples of plain data) with every string made ``encodable``."""
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, dict):
        return {encodable_data(key): encodable_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(encodable_data(item) for item in value)
    return value


def markdown_inline(text: object) -> str:
    """One line of Markdown text: newlines folded to spaces, every character Markdown gives meaning escaped."""
    flat = " ".join(str(text).split())
    return MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def markdown_code(text: object) -> str:
    """Inline code that no backtick in ``text`` can close: a longer backtick run around it."""
    flat = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    padding = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{padding}{flat}{padding}{ticks}"


def markdown_fence(text: str, language: str = "text") -> str:
    """A fenced block holding ``text`` verbatim, its fence longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def html_text(text: object) -> str:
    return html.escape(str(text), quote=True)


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a quote before it."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
