"""Output size stays proportional to input size (issue 11, row 13).

80 KB of `<td colspan=50>` over one-cell rows once gave 600 MB of Markdown: every
row was padded to the width of the widest. Each shape below repeats something
cheap to write in HTML and possibly dear to write in Markdown (a table's empty
cells, the markers every line pays deep in lists and quotes); the .md and the
JSON must stay within a fixed multiple of the input, however often it repeats.
"""

from __future__ import annotations

import pytest
from conftest import make_dump

import feedclean

# Output bytes per input byte, at most (the worst here is a row of empty colspan=50 cells, each
# written as 50 cells in its row, the header and the delimiter row: about 30), and the front
# matter and JSON keys every output has whatever its input.
GROWTH = 32
FIXED = 4096
REPEATS = 500

ROWS = "<tr><td>a</td></tr>" * REPEATS
SHAPES = {
    "colspan row over one-cell rows": f"<table><tr>{'<td colspan=50>x</td>' * REPEATS}</tr>{ROWS}</table>",
    "wide row over one-cell rows": f"<table><tr>{'<td>x</td>' * REPEATS}</tr>{ROWS}</table>",
    "one-cell header over wide rows": f"<table><tr><td>h</td></tr>{('<tr>' + '<td>x</td>' * 30 + '</tr>') * REPEATS}</table>",
    "row of empty colspan cells": f"<table><tr><td>a</td><td>b</td></tr><tr>{'<td colspan=50></td>' * REPEATS}</tr></table>",
    "code lines deep in quotes": "<blockquote>" * 150 + "<pre>" + "a\n" * REPEATS * 10 + "</pre>" + "</blockquote>" * 150,
    "line breaks deep in quotes": "<blockquote>" * 150 + "<p>" + "a<br>" * REPEATS * 10 + "</p>" + "</blockquote>" * 150,
    "line breaks deep in wide lists": '<ol start="999999999"><li>' * 60 + "x<br>" * REPEATS * 10 + "</li></ol>" * 60,
    "code lines deep in lists": '<ol start="999"><li>' * 60 + "<pre>" + "a\n" * REPEATS * 10 + "</pre>" + "</li></ol>" * 60,
    "items deep in quotes": "<blockquote>" * 150 + "<ul>" + "<li>x" * REPEATS * 10 + "</ul>" + "</blockquote>" * 150,
}


@pytest.mark.parametrize("output_format", ["md", "json"])
@pytest.mark.parametrize("body", SHAPES.values(), ids=SHAPES.keys())
def test_output_grows_with_the_input_not_faster(body: str, output_format: str) -> None:
    data = make_dump(body).encode()
    output = feedclean.convert_bytes(data, output_format).encode()
    assert len(output) <= GROWTH * len(data) + FIXED, f"{len(data)} bytes in, {len(output)} out"


def test_a_ragged_table_keeps_its_cells() -> None:
    """Short rows are left short once squaring the table would cost too much: GFM fills them in."""
    body = "<table><tr>" + "<td>h</td>" * 50 + "</tr>" + "<tr><td>a</td></tr>" * 50 + "</table>"
    markdown = feedclean.convert_bytes(make_dump(body).encode()).split("---\n\n", 1)[1]
    lines = markdown.strip("\n").split("\n")
    assert lines[0] == "|" + " h |" * 50 and lines[1] == "|" + " --- |" * 50
    assert lines[2:] == ["| a |"] * 50


def test_a_table_with_a_few_short_rows_is_still_squared() -> None:
    """mistune reads no table with a short row: a table that costs little to square is squared."""
    body = "<table><tr><th>a</th><th>b</th><th>c</th></tr><tr><td>d</td></tr><tr><td>e</td><td>f</td><td>g</td></tr></table>"
    markdown = feedclean.convert_bytes(make_dump(body).encode()).split("---\n\n", 1)[1]
    assert markdown == "| a | b | c |\n| --- | --- | --- |\n| d |  |  |\n| e | f | g |\n"
