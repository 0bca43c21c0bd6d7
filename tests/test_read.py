"""The read stage's invariants that a conversion's output would not show."""

from __future__ import annotations

import codecs

from hypothesis import given
from hypothesis import strategies as st

from feedclean.article import InputError
from feedclean.read import _DOCUMENT_ENCODINGS, decode_input, split_dump

# The WHATWG Encoding Standard's labels (UTF-8/16/32 aside) that a declaration may name.
WHATWG_LABELS = (
    "ibm866", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7",
    "iso-8859-8", "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15", "iso-8859-16",
    "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic", "cp874", "cp1250", "cp1251", "cp1252",
    "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "gb18030", "cp950", "big5hkscs",
    "euc-jp", "iso-2022-jp", "shift_jis", "cp932", "euc-kr", "cp949",
)  # fmt: skip


def test_document_encodings_are_named_as_codecs_names_them():
    assert frozenset(codecs.lookup(label).name for label in WHATWG_LABELS) == _DOCUMENT_ENCODINGS


_PIECES = st.sampled_from(
    ["<!-- 1700000000000 -->\n", "[Tï\\*tle](https://e.com/a)\n", "---\n", "\n", "\r\n", "\r", "<p>文字 é</p>", "x",
     "\x00", "\x1b", "\x0c", "\ufeff", "\ufffe", "&#27;", "\ud800", "\x85", "\u2028"]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=12), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "gb18030", "cp1252"]))
def test_body_bytes_are_exactly_the_bodys_utf8(pieces, encoding):
    """What parse hands lxml instead of the body's text must be that text, whatever the input."""
    data = "".join(pieces).encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    try:
        decoded = decode_input(data)
        article = split_dump(decoded, "x")
    except InputError:
        return
    if article.html_utf8 is not None:
        assert article.html_utf8 == article.html.encode("utf-8")


def test_a_plain_utf8_dump_hands_parse_its_own_body_bytes():
    """The case the property above must not pass by leaving: the usual dump keeps its bytes."""
    body = "<p>文字 é</p>\n"
    article = split_dump(decode_input(f"[Title](https://e.com/a)\n\n------\n\n{body}".encode()), "x")
    assert article.html_utf8 == body.encode()
