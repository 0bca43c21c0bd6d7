"""Markdown escaping: the one place that decides how text, code and URLs are written so that
no renderer reads them as markup (see docs/output.md, "Markdown").

Every piece of the article's text, every code span and every link target
reaches the Markdown through these functions; a renderer that passes raw HTML
through (as site generators do) then shows it as text.
"""

from __future__ import annotations

import re

from .controls import encode_controls

_SPECIAL_CHARS = r"\\`*_\[\]<&~|"
_SPECIAL = re.compile(f"[{_SPECIAL_CHARS}]")
# What makes text differ from its Markdown, or from itself without controls (controls.py) and
# with whitespace collapsed: a special, a control, or whitespace other than the space (all
# that str.split() splits at, listed).
_NOT_AS_IS = re.compile(rf"[{_SPECIAL_CHARS}\x00-\x1f\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_ENTITY_LIKE = re.compile(r"&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]{1,31});")
# The start of an entity that the text after it (another inline piece) could complete.
_ENTITY_START = re.compile(r"&(?:#[xX]?[0-9a-fA-F]{0,8}|[A-Za-z][A-Za-z0-9]{0,31})?\Z")
_BACKTICKS = re.compile(r"`+")
_URL_PERCENT = re.compile(r"[ <>\\]")
_URL_BACKSLASH = re.compile(r"[()|]")
# Any character destination() changes or looks at: most URLs hold none.
_URL_SPECIAL = re.compile(r"[\x00-\x1f\x7f-\x9f <>\\()|&]")
_BLOCK_START = re.compile(
    r"^(?:(#{1,6})(?=[ \t]|$)|(>)|([-+])(?=[ \t]|$)|\d{1,9}([.)])(?=[ \t]|$)|(=)+[ \t]*$|(-)+[ \t]*$)", re.M
)


def escape_text(text: str) -> str:
    """Backslash-escape what CommonMark (and GFM) would read as markup in plain text."""
    if _SPECIAL.search(text) is None:
        return text
    return _SPECIAL.sub(_escape_special, text)


def written_as_is(text: str) -> bool:
    """Whether non-empty `text` is already its own plain text and Markdown: no control, nothing
    to escape, single spaces between words only. Most paragraphs are, and skip three passes."""
    return text[0] != " " and text[-1] != " " and _NOT_AS_IS.search(text) is None and "  " not in text


def _escape_special(match: re.Match[str]) -> str:
    """The escaped form of one special character.

    `<` becomes `&lt;`, not `\\<`: GFM's autolinks run on through a backslash,
    so `https://a.b/\\<img …>` would hand the `<` to the HTML parser. `|` is
    escaped everywhere, so no paragraph can turn into a GFM table. An `&` that
    could start an entity, with this text or with the next piece, is escaped.
    """
    char = match.group()
    if char == "_":
        text, start = match.string, match.start()
        inside_word = 0 < start < len(text) - 1 and text[start - 1].isalnum() and text[start + 1].isalnum()
        return "_" if inside_word else "\\_"
    if char == "&":
        text, start = match.string, match.start()
        return "\\&" if _ENTITY_LIKE.match(text, start) or _ENTITY_START.match(text, start) else "&"
    if char == "<":
        return "&lt;"
    return "\\" + char


def escape_block_starts(markdown: str) -> str:
    """Escape line starts that would open a heading, quote, list, or setext underline."""
    if not markdown or (markdown[0] not in "#>-+=0123456789" and "\n" not in markdown):
        return markdown
    return _BLOCK_START.sub(_escape_block_start, markdown)


def _escape_block_start(match: re.Match[str]) -> str:
    text = match.group()
    for group in range(1, 7):
        if match.group(group) is not None:
            offset = match.start(group) - match.start()
            return text[:offset] + "\\" + text[offset:]
    return text


def code_span(code: str, in_table: bool) -> str:
    if in_table:
        code = code.replace("|", "\\|")
    fence = backtick_fence(code, 1)
    if code.startswith(("`", " ")) or code.endswith(("`", " ")):
        code = f" {code} "
    return f"{fence}{code}{fence}"


def destination(url: str) -> str:
    """A link destination no renderer can misread, that still decodes to the same URL.

    Controls (controls.py), spaces, angle brackets and backslashes are percent-encoded
    (as renderers would do anyway); parentheses and pipes are backslash-escaped,
    which CommonMark undoes and GFM tables respect; so is an `&` that starts
    an entity, which CommonMark would otherwise decode (`javascript&colon;`).
    """
    if _URL_SPECIAL.search(url) is None:
        return url
    url = _URL_PERCENT.sub(lambda match: f"%{ord(match.group()):02X}", encode_controls(url))
    url = _URL_BACKSLASH.sub(r"\\\g<0>", url)
    return _ENTITY_LIKE.sub(lambda match: "\\" + match.group(), url) if "&" in url else url


def backtick_fence(code: str, shortest: int) -> str:
    """A run of backticks longer than any in `code` (and at least `shortest`), so `code` cannot close it."""
    longest = max((len(run) for run in _BACKTICKS.findall(code)), default=0)
    return "`" * max(shortest, longest + 1)
