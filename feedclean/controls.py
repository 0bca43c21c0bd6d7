"""The one place control characters are kept out of what feedclean writes and prints.

A feed publisher can put any character in an article: `&#x1b;` is ESC, and
`ESC ] 52 ; c ; …` printed on a terminal writes to its clipboard, `ESC [ 8 m`
hides what follows. So no output holds a control character: the Markdown body,
its front matter and the JSON (render.py, inline.py, markdown.py, escape.py),
and what `feedclean explain` and `feedclean rules` print (explain.py), piped or
on a terminal. Tab and newline stay: code blocks and multi-line values need them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

# C0 controls but tab and newline, DEL, and C1 controls (U+0080–U+009F; 0x9B alone is CSI).
# None is printable (str.isprintable), which is checked first: it takes a third of a search's time.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# The same in a URL, tab and newline included: each is percent-encoded.
_URL_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
# The controls that separate words (vertical tab, form feed, CR, the information separators,
# NEL): they become a space, as other whitespace does, rather than join two words.
_SEPARATORS = "\x0b\x0c\r\x1c\x1d\x1e\x1f\x85"
_WITHOUT_CONTROLS = {code: None for code in (*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))} | dict.fromkeys(
    map(ord, _SEPARATORS), " "
)


def strip_controls(text: str) -> str:
    """`text` without control characters (tab and newline kept; those that separate words become spaces)."""
    if text.isprintable() or _CONTROLS.search(text) is None:
        return text
    return text.translate(_WITHOUT_CONTROLS)


def encode_controls(url: str) -> str:
    """`url` with its control characters percent-encoded (as UTF-8), tab and newline included.

    A URL keeps its characters: dropping one could change where it leads, or make
    a scheme of what was none (`java<U+009B>script:` is a relative URL;
    without the U+009B it is `javascript:`).
    """
    if url.isprintable() or _URL_CONTROLS.search(url) is None:
        return url
    return _URL_CONTROLS.sub(lambda match: quote(match.group(), safe=""), url)


def strip_controls_within(value: Any) -> Any:
    """A copy of `value` (strings, and lists, tuples and dicts of them) with every string's control
    characters stripped; tuples become lists, as JSON has them."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, dict):
        return {strip_controls_within(key): strip_controls_within(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strip_controls_within(item) for item in value]
    return value
