"""Part of stage 2, parse: a body of plain text (a YouTube description, a text feed's item,
e-mailed minutes) made HTML that keeps what its line breaks meant.

A blank line parts paragraphs. Inside one, a line break is the author's in verse, an address
or a list (short or uneven lines), and a tool's in prose wrapped at a width (an e-mail's 72
columns), where it is only a space. Lines indented like code are code. The body holds no `<`
(else it is HTML); its `&` is read as HTML's, as in any body, except in code.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from html import escape
from itertools import groupby, pairwise

_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")
# What indents a line of code, as in Markdown and e-mail.
_CODE_INDENTS = ("    ", "\t")
# A line that starts a list item ("- ", "* ", "• ", "3. ", "b) ").
_LIST_ITEM = re.compile(r"\s*(?:[-*+•·]|\d{1,3}[.)]|[a-zA-Z][.)])\s")
# Prose wrapped at a width: every line but the last holds this many characters at least …
_WRAPPED_MIN_CHARS = 50
# … and this share of the longest line's.
_WRAPPED_MIN_SHARE = 0.75
# Wide characters (Chinese, Japanese): their lines have no spaces to wrap at, and a break
# between two of them is no space either.
_WIDE = frozenset(("W", "F"))


def paragraphs_of_plain_text(text: str) -> str:
    """The body as HTML when it is plain text with line breaks (no tag at all), else as it is."""
    if "<" in text or "\n" not in text.strip():
        return text
    parts = (_content_lines(part) for part in _BLANK_LINE.split(textwrap.dedent(text)))
    return "".join(_paragraph(lines) for lines in parts if lines)


def _content_lines(part: str) -> list[str]:
    return [line.rstrip() for line in part.splitlines() if line.strip()]


def _paragraph(lines: list[str]) -> str:
    """One paragraph's HTML: its runs of code as <pre>, the text around them as <p>."""
    code = _code_lines(lines)
    blocks = []
    for is_code, group in groupby(zip(lines, code, strict=True), key=lambda pair: pair[1]):
        run = [line for line, _ in group]
        blocks.append(_code_block(run) if is_code else _text_block(run))
    return "".join(blocks)


def _code_lines(lines: list[str]) -> list[bool]:
    """Which lines are code: a run of two or more lines indented by four spaces or a tab, or a
    paragraph that is all indented. One indented line among others is a paragraph's first line
    set in, or a quoted line."""
    flags: list[bool] = []
    for indented, group in groupby(line.startswith(_CODE_INDENTS) for line in lines):
        size = len(list(group))
        flags += [indented and (size >= 2 or size == len(lines))] * size
    return flags


def _code_block(lines: list[str]) -> str:
    """Code as it was typed: its `&` and `>` are characters, not markup."""
    code = textwrap.dedent("\n".join(lines))
    return f"<pre>{escape(code, quote=False)}</pre>"


def _text_block(lines: list[str]) -> str:
    stripped = [line.strip() for line in lines]
    joiner = " " if _is_wrapped(stripped) else "<br>"
    return f"<p>{joiner.join(stripped)}</p>"


def _is_wrapped(lines: list[str]) -> bool:
    """Whether the lines are prose a tool cut at a width: all but the last fill close to one
    width, each break comes where the next word would not have fitted, and no line starts a
    list item. Verse, addresses and lists have short or uneven lines, whose breaks are the
    author's; so has text in a wide script, which is never wrapped at spaces."""
    if len(lines) < 2 or any(_LIST_ITEM.match(line) for line in lines[1:]):
        return False
    width = max(len(line) for line in lines)
    for line, following in pairwise(lines):
        fits = len(line) + 1 + len(following.split(maxsplit=1)[0]) <= width
        short = len(line) < max(_WRAPPED_MIN_CHARS, _WRAPPED_MIN_SHARE * width)
        if fits or short or unicodedata.east_asian_width(line[-1]) in _WIDE:
            return False
    return True
