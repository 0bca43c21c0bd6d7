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
from typing import NamedTuple

from lxml import etree

from .article import Article, InputError
from .tree import xml_safe

# Legacy encodings tried, in this order, when a file is not UTF-8 and declares none.
_LEGACY_ENCODINGS = ("gb18030", "cp950", "big5hkscs", "cp1252")
# Each CJK encoding's family, and the range of lead bytes of that family's first (common) level.
_FAMILIES = {"gb18030": "gb", "cp950": "big5", "big5hkscs": "big5"}
_FIRST_LEVELS = {"gb": ("gb2312", 0xB0, 0xD7), "big5": ("big5", 0xA4, 0xC6)}
_EURO_HANDLER = "feedclean.euro"
# Where a document names its encoding: an XML declaration at its very start, or a <meta>
# charset among its first bytes (the HTML standard's pre-scan looks at 1024; a dump's
# header comes first, so a little more). A byte-level sniff: nothing is decoded yet.
_PRESCAN_BYTES = 4096
_XML_DECLARATION = re.compile(rb"\s*<\?xml[^>]{0,200}?\bencoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
_META_CHARSET = re.compile(rb"(?i)<meta\b[^>]{0,400}?\bcharset\s*=\s*[\"']?([A-Za-z0-9._:-]{1,40})")
# Declared names whose usual files hold more than the name says (as browsers read them).
_DECLARED_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "cp950", "iso-8859-1": "cp1252",
    "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252", "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "shift_jis": "cp932", "x-sjis": "cp932", "iso-8859-9": "cp1254", "tis-620": "cp874",
}  # fmt: skip
# The encodings a declaration may name: the WHATWG Encoding Standard's (what browsers accept),
# UTF-8/16/32 aside. Python also knows codecs that are no character set (base64, rot13,
# unicode_escape, idna …) and would turn a declaration into a way to make any text at all.
# Written as codecs.lookup names them (tests/test_read.py checks): looking them up here would
# import 36 codec modules at every start, for the few files that declare a legacy encoding.
_DOCUMENT_ENCODINGS = frozenset((
    "cp866", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8",
    "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16", "koi8-r", "koi8-u", "mac-roman",
    "mac-cyrillic", "cp874", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
    "cp1258", "gb18030", "cp950", "big5hkscs", "euc_jp", "iso2022_jp", "shift_jis", "cp932", "euc_kr", "cp949",
))  # fmt: skip
_SNIFF_CHARS = 4000
# Fetch times outside these (1995, before RSS; 2200) are a scraper's bug, not a date.
_EARLIEST_FETCH = 788_918_400
_LATEST_FETCH = 7_258_118_400
# A title line broken over more lines than this is not a header.
_MAX_TITLE_LINES = 5
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
_NOT_XML_INVALID_BYTE = bytes(b for b in range(256) if b >= 0x20 or b in (9, 10, 13))
# U+FFFE and U+FFFF in UTF-8.
_HAS_NONCHARACTER = re.compile(rb"\xef\xbf[\xbe\xbf]")
_CONTROLS_TO_SPACE = {c: " " for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}
_TITLE_PARSER = etree.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True)


class Decoded(NamedTuple):
    """An input as text with one kind of line end, the encoding it was in, and the input
    itself when it is exactly that text's UTF-8 (the common case), so parsing can hand lxml
    those bytes instead of encoding the text again."""

    text: str
    encoding: str
    utf8: bytes | None


def decode_input(data: bytes) -> Decoded:
    """The input decoded (see Decoded)."""
    if not data or data.isspace():
        raise InputError("file is empty")
    refused = data.translate(None, _NOT_XML_INVALID_BYTE)  # usually none: one pass serves two tests
    text, encoding = decode(data, refused)
    as_read = encoding == "utf-8" and not data.startswith(codecs.BOM_UTF8)
    if _may_hold_xml_invalid(data, refused, text, encoding):
        text, as_read = xml_safe(text), False
    if "\r" in text:
        text, as_read = text.replace("\r\n", "\n").replace("\r", "\n"), False
    return Decoded(text, encoding, data if as_read else None)


def split_dump(decoded: Decoded, name: str) -> Article:
    """Header fields and body of a decoded dump."""
    text = decoded.text
    article = Article(name=name, html="", encoding=decoded.encoding)
    body_start = _read_header(text, article)
    article.html = text[body_start:]
    if not article.html or article.html.isspace():
        raise InputError("the dump has a header but no body" if body_start else "file is empty")
    if decoded.utf8 is not None:
        article.html_utf8 = decoded.utf8[len(text[:body_start].encode()) :]
    return article


def decode(data: bytes, refused: bytes) -> tuple[str, str]:
    """Return the text and the name of the encoding it was in (`refused`: the data's bytes
    that XML refuses; binary data has many).

    A byte-order mark decides; then UTF-8 (a file that is valid UTF-8 is
    UTF-8, whatever an old <meta> in it says); then the encoding the
    document declares (an XML declaration or a <meta> charset), if any; then
    the legacy encoding whose reading looks most like real text.
    """
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding.removesuffix("-sig")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"not valid {encoding.removesuffix('-sig').upper()} despite its byte-order mark (byte {error.start})"
                ) from None
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return utf16
    if refused and _looks_binary(data):
        raise InputError("binary file (control bytes), not a text dump")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        first_bad = error.start
        if error.end == len(data) and error.reason == "unexpected end of data":
            raise InputError("the file ends in the middle of a UTF-8 character: is it still being written?") from None
    if _is_corrupt_utf8(data):
        raise InputError(f"invalid UTF-8 at byte {first_bad} in otherwise UTF-8 text; re-save the file as UTF-8")
    declared = _declared_encoding(data)
    if declared is not None:
        return declared
    return _decode_legacy(data)


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text saved without a byte-order mark: every other byte of its ASCII is zero."""
    head = data[:4096]
    if len(head) < 16 or 0 not in head or head.count(0) * 3 < len(head):
        return None
    for encoding, zeros in (("utf-16-le", head[1::2]), ("utf-16-be", head[0::2])):
        if zeros.count(0) * 10 >= len(zeros) * 6:
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                return None
    return None


def _declared_encoding(data: bytes) -> tuple[str, str] | None:
    """The text in the encoding the document names in its XML declaration or a <meta>
    charset (found as the HTML standard's pre-scan does, on the first bytes), if it reads."""
    match = _XML_DECLARATION.match(data) or _META_CHARSET.search(data, 0, _PRESCAN_BYTES)
    if match is None:
        return None
    name = match.group(1).decode("ascii", "replace").strip().lower()
    name = _DECLARED_ALIASES.get(name, name)
    try:
        encoding = codecs.lookup(name).name
    except LookupError:
        return None
    if encoding not in _DOCUMENT_ENCODINGS:
        return None
    try:
        return data.decode(encoding, _EURO_HANDLER), encoding
    except UnicodeDecodeError:
        return None


def _may_hold_xml_invalid(data: bytes, refused: bytes, text: str, encoding: str) -> bool:
    """A cheap test, so the common clean file skips a regex pass over its text. In UTF-8 the
    noncharacters are looked for in the text: their lead bytes (EF BF) are common in CJK text."""
    if refused or encoding.startswith("utf-16"):
        return True
    if encoding == "utf-8":
        return "\ufffe" in text or "\uffff" in text
    return b"\xef\xbf" in data and _HAS_NONCHARACTER.search(data) is not None


def _looks_binary(data: bytes) -> bool:
    """Many control bytes (NUL among them) at the start: an image, an archive, not text.
    A stray NUL or two in a text dump is dropped with the other controls later."""
    head = data[:8192]
    controls = len(head.translate(None, _NOT_BINARY))
    return controls > max(2, len(head) // 100)


def _is_corrupt_utf8(data: bytes) -> bool:
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    valid = len(text) - len(text.encode("ascii", "ignore")) - bad
    return valid >= 3 and bad * _CORRUPT_UTF8_RATIO <= valid


def _decode_legacy(data: bytes) -> tuple[str, str]:
    """Pick the legacy encoding whose decoding reads most like real text (the first, on a tie)."""
    best: tuple[float, str, str] | None = None
    for encoding in _LEGACY_ENCODINGS:
        try:
            text = data.decode(encoding, _EURO_HANDLER)
        except UnicodeDecodeError:
            continue
        score = _plausibility(text, encoding)
        if best is None or score > best[0]:
            best = (score, text, encoding)
    if best is None or best[0] < _MIN_PLAUSIBLE:
        raise InputError("cannot decode: not UTF-8, GB18030, Big5 or Windows-1252 text, and no encoding declared")
    return best[1], best[2]


def _euro_for_lone_0x80(error: UnicodeDecodeError) -> tuple[str, int]:
    """Windows writes € as the single byte 0x80 in GBK (cp936), which GB18030 lacks."""
    if error.object[error.start : error.start + 1] == b"\x80":
        return "€", error.start + 1
    raise error


codecs.register_error(_EURO_HANDLER, _euro_for_lone_0x80)


def _plausibility(text: str, encoding: str) -> float:
    """Share of non-ASCII characters that are common in real text of that encoding.

    Big5 bytes read as GB18030 (and the reverse) decode without error but give
    rare characters, kana and symbols; the right reading gives the few
    thousand characters every newspaper uses, as that encoding's own first
    level has them (GB2312's level 1 for GB18030, Big5's level 1 for Big5).
    For Latin text, accented letters sit inside ASCII words, while CJK bytes
    read as Windows-1252 give long runs.
    """
    sample = text[: _SNIFF_CHARS * 4]
    family = _FAMILIES.get(encoding)
    total = plausible = 0
    for index, char in enumerate(sample):
        if ord(char) < 128:
            continue
        total += 1
        plausible += _latin_plausible(sample, index) if family is None else _common_in(char, family)
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
def _common_in(char: str, family: str) -> bool:
    """A first-level hanzi of the family's base encoding (GB2312 or Big5), or CJK punctuation."""
    encoding, first, last = _FIRST_LEVELS[family]
    try:
        encoded = char.encode(encoding)
    except UnicodeEncodeError:
        encoded = b""
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
    title_match, end = _title_lines(text, line, end)
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


def _title_lines(text: str, line: str, end: int) -> tuple[tuple[str, str] | None, int]:
    """The "[title](url)" line, or lines: a title may hold line breaks of its own."""
    joined = line.strip()
    for _ in range(_MAX_TITLE_LINES):
        match = _match_title_line(joined)
        if match is not None or not joined.startswith("[") or end >= len(text):
            return match, end
        following, end = _line_at(text, end)
        joined = f"{joined} {following.strip()}"
    return None, end


def _match_title_line(line: str) -> tuple[str, str] | None:
    """Split "[title](url)" at the last "](", since titles may hold brackets themselves.

    The URL may be written in CommonMark's other forms too: in angle
    brackets, or followed by a quoted link title.
    """
    if not (line.startswith("[") and line.endswith(")")):
        return None
    split = line.rfind("](")
    if split < 1:
        return None
    destination = line[split + 2 : -1].strip()
    if destination.startswith("<") and ">" in destination:
        url, _, link_title = destination[1:].partition(">")
    else:
        url, _, link_title = destination.partition(" ")
    link_title = link_title.strip()
    if link_title and not (len(link_title) >= 2 and link_title[0] == link_title[-1] and link_title[0] in "\"'"):
        return None
    return line[1:split], url.strip()


def _fetch_time(digits: str, article: Article) -> datetime | None:
    """The header's fetch time: milliseconds since 1970 (seconds, from scrapers that write those)."""
    value = int(digits)
    seconds = value / 1000 if len(digits) >= 12 else value
    if not _EARLIEST_FETCH <= seconds <= _LATEST_FETCH:
        article.warnings.append(f"fetch time {digits} in the header is not a plausible date; left empty")
        return None
    return datetime.fromtimestamp(seconds, UTC)


def plain_title(raw: str) -> str:
    """The title as plain text: Markdown escapes undone, markup and entities resolved."""
    title = _MARKDOWN_ESCAPE.sub(r"\1", raw) if "\\" in raw else raw  # most titles escape nothing
    if "<" in title or "&" in title:
        root = etree.fromstring(f"<p>{title}</p>".encode(), _TITLE_PARSER)
        if root is not None:
            etree.strip_elements(root, "script", "style", with_tail=False)
            title = "".join(root.itertext())
    return clean_text(title)


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control characters, which no title or caption needs."""
    if text.isprintable():  # no controls, and no whitespace but the space
        return " ".join(text.split())
    return _WHITESPACE.sub(" ", text.translate(_CONTROLS_TO_SPACE)).strip()


def _skip_blank_lines(text: str, position: int) -> int:
    while position < len(text):
        if not text[position].isspace():  # the body's first line may be all of it: not copied
            return position
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
