"""Stage 1, read: bytes → decoded text → dump header + HTML body.

Scrapers drift from the dump format in small ways (CRLF, a BOM, leading blank
lines, no header at all) and older ones saved Chinese text as GB18030 or Big5
instead of UTF-8. This stage absorbs all of that so later stages see one shape.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from datetime import UTC, datetime
from functools import cache

from lxml import etree

from .article import Article, InputError

# Legacy encodings tried, in this order, when a file is not UTF-8.
_LEGACY_ENCODINGS = ("gb18030", "big5hkscs", "cp1252")
_SNIFF_CHARS = 4000
# Below this share of plausible characters no candidate is believable.
_MIN_PLAUSIBLE = 0.3
# A file whose valid UTF-8 multi-byte characters outnumber its bad sequences
# this many times is UTF-8 with corrupt bytes, not a legacy encoding (in
# GB18030 or Big5 text, valid UTF-8 sequences only turn up by chance).
_CORRUPT_UTF8_RATIO = 10
# Bytes that text files do not hold (all C0 controls but tab, newlines, form feed, escape).
_NOT_BINARY = bytes(b for b in range(256) if not (b < 9 or 14 <= b < 32) or b == 27)

_FETCH_LINE = re.compile(r"<!--\s*(\d{1,20})\s*-->")
_RULE_LINE = re.compile(r"-{3,}|={3,}")
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_WHITESPACE = re.compile(r"\s+")
# Characters no HTML or XML document may hold; libxml2 refuses them in the tree.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NOT_XML_INVALID_BYTE = bytes(b for b in range(256) if b >= 0x20 or b in (9, 10, 13))
_CONTROLS_TO_SPACE = {c: " " for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}
_TITLE_PARSER = etree.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True)


def read_dump(data: bytes, name: str) -> Article:
    """Decode a dump and split it into header fields and body; raise InputError if hopeless."""
    text, encoding = decode_text(data)
    return split_dump(text, encoding, name)


def decode_text(data: bytes) -> tuple[str, str]:
    """The input as text with one kind of line end, and the encoding it was in."""
    if not data.strip():
        raise InputError("file is empty")
    text, encoding = decode(data)
    if _may_hold_xml_invalid(data, encoding):
        text = _XML_INVALID.sub("", text)
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def split_dump(text: str, encoding: str, name: str) -> Article:
    """Header fields and body of a decoded dump."""
    article = Article(name=name, html="", encoding=encoding)
    body_start = _read_header(text, article)
    article.html = text[body_start:]
    if not article.html.strip():
        raise InputError("the dump has a header but no body" if body_start else "file is empty")
    return article


def decode(data: bytes) -> tuple[str, str]:
    """Return the text and the name of the encoding it was in."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding.removesuffix("-sig")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"not valid {encoding.removesuffix('-sig').upper()} despite its byte-order mark (byte {error.start})"
                ) from None
    if _looks_binary(data):
        raise InputError("binary file (control bytes), not a text dump")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        first_bad = error.start
    if _is_corrupt_utf8(data):
        raise InputError(f"invalid UTF-8 at byte {first_bad} in otherwise UTF-8 text; re-save the file as UTF-8")
    return _decode_legacy(data)


def _may_hold_xml_invalid(data: bytes, encoding: str) -> bool:
    """A cheap byte-level test, so the common clean file skips a regex pass over its text."""
    if encoding.startswith("utf-16"):
        return True
    return bool(data.translate(None, _NOT_XML_INVALID_BYTE)) or b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = len(head.translate(None, _NOT_BINARY))
    return controls > max(2, len(head) // 100)


def _is_corrupt_utf8(data: bytes) -> bool:
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    valid = len(text) - len(text.encode("ascii", "ignore")) - bad
    return valid >= 3 and bad * _CORRUPT_UTF8_RATIO <= valid


def _decode_legacy(data: bytes) -> tuple[str, str]:
    """Pick the legacy encoding whose decoding reads most like real text."""
    best: tuple[float, str, str] | None = None
    for encoding in _LEGACY_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        score = _plausibility(text, latin=encoding == "cp1252")
        if best is None or score > best[0]:
            best = (score, text, encoding)
    if best is None or best[0] < _MIN_PLAUSIBLE:
        raise InputError("cannot decode: not UTF-8, GB18030, Big5 or Windows-1252 text")
    return best[1], best[2]


def _plausibility(text: str, latin: bool) -> float:
    """Share of non-ASCII characters that are common in real text of that kind.

    Big5 bytes read as GB18030 (and the reverse) decode without error but give
    rare characters, kana and symbols; the right reading gives the few thousand
    characters every newspaper uses. For Latin text, accented letters sit
    inside ASCII words, while CJK bytes read as Windows-1252 give long runs.
    """
    sample = text[: _SNIFF_CHARS * 4]
    total = plausible = 0
    for index, char in enumerate(sample):
        if ord(char) < 128:
            continue
        total += 1
        if latin:
            plausible += _latin_plausible(sample, index)
        else:
            plausible += _common_cjk(char)
        if total >= _SNIFF_CHARS:
            break
    return plausible / total if total else 0.0


def _latin_plausible(text: str, index: int) -> bool:
    char = text[index]
    if not (char.isalpha() or char in "“”‘’–—…€«»°"):
        return False
    before = text[index - 1] if index else " "
    after = text[index + 1] if index + 1 < len(text) else " "
    return (before.isascii() and (before.isalpha() or before.isspace())) or (
        after.isascii() and (after.isalpha() or after.isspace())
    )


@cache
def _common_cjk(char: str) -> bool:
    """A first-level hanzi of GB2312 or Big5 (the common ones), or CJK punctuation."""
    for encoding, first, last in (("gb2312", 0xB0, 0xD7), ("big5", 0xA4, 0xC6)):
        try:
            encoded = char.encode(encoding)
        except UnicodeEncodeError:
            continue
        if len(encoded) == 2 and first <= encoded[0] <= last:
            return True
    return unicodedata.category(char).startswith("P") and 0x3000 <= ord(char) <= 0xFFEF


def _read_header(text: str, article: Article) -> int:
    """Fill title, url and fetched from the header; return where the body starts."""
    position = _skip_blank_lines(text, 0)
    line, end = _line_at(text, position)
    header_seen = False
    match = _FETCH_LINE.fullmatch(line.strip())
    if match:
        article.fetched = _fetch_time(match.group(1), article)
        header_seen = True
        position = _skip_blank_lines(text, end)
        line, end = _line_at(text, position)
    title_match = _match_title_line(line.strip())
    if title_match:
        title, url = title_match
        article.title = plain_title(title)
        article.url = url or None
        header_seen = True
        position = end
        line, end = _line_at(text, _skip_blank_lines(text, position))
        if _RULE_LINE.fullmatch(line.strip()):
            position = end
    return _skip_blank_lines(text, position) if header_seen else 0


def _match_title_line(line: str) -> tuple[str, str] | None:
    """Split "[title](url)" at the last "](", since titles may hold brackets themselves."""
    if not (line.startswith("[") and line.endswith(")")):
        return None
    split = line.rfind("](")
    if split < 1:
        return None
    url = line[split + 2 : -1].strip()
    if len(url.split(maxsplit=1)) > 1:
        return None
    return line[1:split], url


def _fetch_time(digits: str, article: Article) -> datetime | None:
    value = int(digits)
    seconds = value / 1000 if len(digits) >= 12 else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        article.warnings.append(f"fetch time {digits} in the header is out of range; left empty")
        return None


def plain_title(raw: str) -> str:
    """The title as plain text: Markdown escapes undone, markup and entities resolved."""
    title = _MARKDOWN_ESCAPE.sub(r"\1", raw)
    if "<" in title or "&" in title:
        root = etree.fromstring(f"<p>{title}</p>".encode(), _TITLE_PARSER)
        if root is not None:
            title = "".join(root.itertext())
    return clean_text(title)


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control characters, which no title or caption needs."""
    return _WHITESPACE.sub(" ", text.translate(_CONTROLS_TO_SPACE)).strip()


def _skip_blank_lines(text: str, position: int) -> int:
    while position < len(text):
        end = text.find("\n", position)
        if end == -1:
            end = len(text)
        if text[position:end].strip():
            return position
        position = end + 1
    return len(text)


def _line_at(text: str, position: int) -> tuple[str, int]:
    """The line starting at `position` and the position after its newline."""
    end = text.find("\n", position)
    if end == -1:
        return text[position:], len(text)
    return text[position:end], end + 1
