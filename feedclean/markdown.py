"""The cleaned tree → CommonMark body (and its plain text), in one walk.

Why not a converter from PyPI: measured on the seeds, markdownify took ~3 ms
per article (45x an lxml parse, through a BeautifulSoup re-parse) and passes
`<script>` text through as raw HTML; html2text ~2 ms; html-to-markdown ~0.25
ms plus a serialise-and-reparse. This walker works on the tree we already
have, emits no raw HTML ever, and owns the escaping that makes the output
safe under renderers that pass HTML through (see README, "Markdown").

Inline content becomes a flat token list first, so whitespace can be
normalised across element boundaries and emphasis can be checked against
CommonMark's flanking rules with its real neighbours; emphasis that would not
parse as emphasis (common next to CJK punctuation) is dropped, never left as
stray asterisks.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from lxml import etree

from .tree import BLOCK_TAGS
from .urls import IMAGE_SCHEMES, LINK_SCHEMES, is_allowed

# Below this depth a subtree is rendered as plain text, to bound recursion.
MAX_DEPTH = 200

_TEXT, _OPEN, _CLOSE, _LINK, _END_LINK, _IMAGE, _CODE, _BREAK = range(8)
_EMPHASIS = {"em": "*", "i": "*", "cite": "*", "dfn": "*", "var": "*", "strong": "**", "b": "**"}
_CODE_TAGS = frozenset(("code", "kbd", "samp", "tt"))
# CommonMark list numbers have at most nine digits.
_MAX_LIST_NUMBER = 999_999_999
# Rounds of dropping emphasis CommonMark would not parse before dropping all of a paragraph's.
_EMPHASIS_ROUNDS = 4
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SKIPPED = frozenset(("wbr",))
_TABLE_STRUCTURE = frozenset(("thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup", "col"))

_SPECIAL = re.compile(r"[\\`*_\[\]<&~|]")
_ENTITY_LIKE = re.compile(r"&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]{1,31});")
# The start of an entity that the text after it (another inline piece) could complete.
_ENTITY_START = re.compile(r"&(?:#[xX]?[0-9a-fA-F]{0,8}|[A-Za-z][A-Za-z0-9]{0,31})?\Z")
_BLOCK_START = re.compile(
    r"^(?:(#{1,6})(?=[ \t]|$)|(>)|([-+])(?=[ \t]|$)|\d{1,9}([.)])(?=[ \t]|$)|(=)+[ \t]*$|(-)+[ \t]*$)", re.M
)
_BACKTICKS = re.compile(r"`+")
_URL_PERCENT = re.compile(r"[\x00-\x20\x7f<>\\]")
_URL_BACKSLASH = re.compile(r"[()|]")
_INFO_STRING = re.compile(r"[^A-Za-z0-9_+#.-]")


@dataclass(slots=True)
class Block:
    """One rendered block: its Markdown, its plain text, and what kind it is."""

    markdown: str
    text: str
    kind: str = "paragraph"


def render_body(body: etree._Element) -> tuple[str, str]:
    """The body as CommonMark and as plain text (blocks separated by blank lines)."""
    blocks = _Renderer().children(body, 0)
    markdown = "\n\n".join(block.markdown for block in blocks)
    text = "\n\n".join(block.text for block in blocks if block.text)
    return markdown, text


class _Renderer:
    """Walks blocks; remembers the previous list so adjacent lists do not merge."""

    def children(self, element: etree._Element, depth: int) -> list[Block]:
        """Render a container whose content may mix blocks and loose inline content."""
        blocks: list[Block] = []
        if not len(element):
            self._flush([(_TEXT, element.text or "")], blocks, None)
            return blocks
        run: list[tuple] = []
        _text_token(run, element.text)
        for child in element:
            tag = child.tag
            if tag in BLOCK_TAGS:
                self._flush(run, blocks, None)
                run = []
                blocks.extend(self.block(child, depth + 1, blocks))
            else:
                _collect(child, run, False)
            _text_token(run, child.tail)
        self._flush(run, blocks, None)
        return blocks

    def _flush(self, run: list[tuple], blocks: list[Block], kind: str | None) -> None:
        if not run or (len(run) == 1 and run[0][0] == _TEXT and run[0][1].isspace()):
            return
        for markdown, text in serialize_inline(run):
            blocks.append(Block(_escape_block_starts(markdown), text, kind or "paragraph"))

    def block(self, element: etree._Element, depth: int, before: list[Block]) -> list[Block]:
        tag = element.tag
        if depth > MAX_DEPTH:
            text = " ".join("".join(element.itertext()).split())
            return [Block(escape_text(text), text)] if text else []
        if tag in _HEADINGS:
            return self._heading(element, _HEADINGS[tag])
        if tag in ("ul", "ol", "menu", "dir"):
            return self._list(element, depth, before)
        if tag == "blockquote":
            return self._quote(element, depth)
        if tag == "pre":
            return _code_block(element)
        if tag == "table":
            return self._table(element, depth)
        if tag == "figure":
            return self._figure(element, depth)
        if tag == "hr":
            return [Block("---", "", "rule")]
        if tag == "dt":
            tokens: list[tuple] = [(_OPEN, "**")]
            _collect_children(element, tokens, False)
            tokens.append((_CLOSE, "**"))
            blocks: list[Block] = []
            self._flush(tokens, blocks, None)
            return blocks
        return self.children(element, depth)

    def _heading(self, element: etree._Element, level: int) -> list[Block]:
        tokens: list[tuple] = []
        _collect_children(element, tokens, False)
        tokens = [(_TEXT, " ") if token[0] == _BREAK else token for token in tokens]
        rendered = serialize_inline(tokens)
        if not rendered:
            return []
        markdown = " ".join(m for m, _ in rendered)
        text = " ".join(t for _, t in rendered)
        if markdown.endswith("#"):
            markdown = markdown[:-1] + "\\#"
        return [Block(f"{'#' * level} {markdown}", text, "heading")]

    def _list(self, element: etree._Element, depth: int, before: list[Block]) -> list[Block]:
        ordered = element.tag == "ol"
        previous_kind = before[-1].kind if before else ""
        if ordered:
            number = _int_attribute(element, "start", 1)
            delimiter = ")" if previous_kind == "ordered list ." else "."
        else:
            bullet = "*" if previous_kind == "bullet list -" else "-"
        items: list[list[Block]] = []
        for child in element:
            if child.tag == "li":
                items.append(self.children(child, depth + 1))
            elif child.tag in ("ul", "ol") and items:
                items[-1].extend(self._list(child, depth + 1, items[-1]))
            elif child.tag in BLOCK_TAGS:
                items.append(self.block(child, depth + 1, []))
        items = [item for item in items if item]
        if not items:
            return []
        if ordered:
            number = min(number, _MAX_LIST_NUMBER - len(items) + 1)
        loose = any(sum(1 for b in item if not b.kind.endswith(("list -", "list *", "list .", "list )"))) > 1 for item in items)
        lines, texts = [], []
        for index, item in enumerate(items):
            marker = f"{number + index}{delimiter}" if ordered else bullet
            body = ("\n\n" if loose else "\n").join(b.markdown for b in item)
            lines.append(_indent_item(marker, body))
            texts.append(" ".join(b.text for b in item if b.text))
        kind = f"ordered list {delimiter}" if ordered else f"bullet list {bullet}"
        return [Block(("\n\n" if loose else "\n").join(lines), "\n".join(texts), kind)]

    def _quote(self, element: etree._Element, depth: int) -> list[Block]:
        inner = self.children(element, depth)
        if not inner:
            return []
        markdown = "\n\n".join(b.markdown for b in inner)
        quoted = "\n".join(f"> {line}" if line else ">" for line in markdown.split("\n"))
        return [Block(quoted, "\n\n".join(b.text for b in inner if b.text), "quote")]

    def _figure(self, element: etree._Element, depth: int) -> list[Block]:
        blocks: list[Block] = []
        caption = None
        run: list[tuple] = []
        _text_token(run, element.text)
        for child in element:
            if child.tag == "figcaption":
                caption = child
            elif child.tag in BLOCK_TAGS:
                self._flush(run, blocks, None)
                run = []
                blocks.extend(self.block(child, depth + 1, blocks))
            else:
                _collect(child, run, False)
                self._flush(run, blocks, None)
                run = []
            _text_token(run, child.tail)
        self._flush(run, blocks, None)
        if caption is not None:
            tokens: list[tuple] = []
            _collect_children(caption, tokens, False)
            tokens = [(_TEXT, " ") if t[0] == _BREAK else t for t in tokens if t[0] not in (_OPEN, _CLOSE)]
            self._flush([(_OPEN, "*"), *tokens, (_CLOSE, "*")], blocks, "caption")
        return blocks

    def _table(self, element: etree._Element, depth: int) -> list[Block]:
        """A GFM pipe table; a one-column (layout) table as plain blocks. Anything a
        table holds outside its cells (a caption, stray text) becomes blocks around it."""
        rows, parts = _table_rows(element)
        caption = [block for child in element if child.tag == "caption" for block in self.children(child, depth + 1)]
        strays: list[Block] = []
        for part in parts:
            loose = [part.text, *(child.tail for child in part if child.tag in _TABLE_STRUCTURE)]
            self._flush([(_TEXT, text) for text in loose if text], strays, None)
            for child in part:
                if child.tag not in _TABLE_STRUCTURE:
                    strays.extend(self.block(child, depth + 1, []))
        width = max((sum(span for _, span in row) for row in rows), default=0)
        if width <= 1:
            cells = [block for row in rows for cell, _ in row for block in self.children(cell, depth + 1)]
            return caption + cells + strays
        lines, texts = [], []
        for index, row in enumerate(rows):
            cells, plain = [], []
            for cell, span in row:
                markdown, text = _cell(cell)
                cells.extend([markdown] + [""] * (span - 1))
                plain.append(text)
            cells.extend([""] * (width - len(cells)))
            lines.append("| " + " | ".join(cells) + " |")
            texts.append("\t".join(plain))
            if index == 0:
                lines.append("|" + " --- |" * width)
        return [*caption, Block("\n".join(lines), "\n".join(texts), "table"), *strays]


def _table_rows(table: etree._Element) -> tuple[list[list[tuple[etree._Element, int]]], list[etree._Element]]:
    """The table's own rows (not a nested table's) as (cell, colspan) lists, and the elements
    that hold rows and cells (the table, its sections, its rows)."""
    rows = []
    parts = [table, *(child for child in table if child.tag in ("thead", "tbody", "tfoot"))]
    for row in table.iter("tr"):
        if next(row.iterancestors("table"), None) is not table:
            continue
        parts.append(row)
        cells = [(cell, _int_attribute(cell, "colspan", 1, 1, 50)) for cell in row if cell.tag in ("td", "th")]
        if cells:
            rows.append(cells)
    return rows, parts


def _cell(cell: etree._Element) -> tuple[str, str]:
    tokens: list[tuple] = []
    _collect_children(cell, tokens, False)
    tokens = [(_TEXT, " ") if token[0] == _BREAK else token for token in tokens]
    rendered = serialize_inline(tokens, in_table=True)
    return " ".join(m for m, _ in rendered), " ".join(t for _, t in rendered)


def _code_block(pre: etree._Element) -> list[Block]:
    code = _preformatted_text(pre).strip("\n")
    if not code.strip():
        return []
    longest = max((len(run) for run in _BACKTICKS.findall(code)), default=0)
    fence = "`" * max(3, longest + 1)
    info = ""
    for element in (pre, *pre.iter("code")):
        for name in (element.get("class") or "").split():
            if name.startswith(("language-", "lang-")):
                info = _INFO_STRING.sub("", name.split("-", 1)[1])[:30]
                break
        if info:
            break
    return [Block(f"{fence}{info}\n{code}\n{fence}", code, "code")]


def _preformatted_text(element: etree._Element) -> str:
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "br" else _preformatted_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _indent_item(marker: str, body: str) -> str:
    pad = " " * (len(marker) + 1)
    lines = body.split("\n")
    return "\n".join([f"{marker} {lines[0]}", *(pad + line if line else "" for line in lines[1:])])


def _int_attribute(element: etree._Element, name: str, default: int, low: int = 0, high: int = _MAX_LIST_NUMBER) -> int:
    """An attribute's whole number within [low, high]; ASCII digits only, and never a 5,000-digit int()."""
    value = (element.get(name) or "").strip()
    if not (value.isascii() and value.isdigit()):
        return default
    return min(max(int(value) if len(value) <= len(str(high)) else high, low), high)


# ---------------------------------------------------------------------------
# Inline content: collect tokens, then serialise.
# ---------------------------------------------------------------------------


def _text_token(tokens: list[tuple], text: str | None) -> None:
    if text:
        tokens.append((_TEXT, text))


def _collect(element: etree._Element, tokens: list[tuple], in_link: bool) -> None:
    """Append the tokens of one inline element (not its tail)."""
    tag = element.tag
    if tag == "br":
        tokens.append((_BREAK,))
    elif tag == "img":
        src = element.get("src") or ""
        if src and is_allowed(src, IMAGE_SCHEMES):
            tokens.append((_IMAGE, " ".join((element.get("alt") or "").split()), src))
    elif tag in _EMPHASIS:
        delimiter = _EMPHASIS[tag]
        tokens.append((_OPEN, delimiter))
        _collect_children(element, tokens, in_link)
        tokens.append((_CLOSE, delimiter))
    elif tag == "a" and not in_link and element.get("href") and is_allowed(element.get("href"), LINK_SCHEMES):
        href = element.get("href")
        tokens.append((_LINK, href))
        _collect_children(element, tokens, True)
        tokens.append((_END_LINK, href))
    elif tag in _CODE_TAGS:
        tokens.append((_CODE, "".join(element.itertext())))
    elif tag == "q":
        tokens.append((_TEXT, "“"))
        _collect_children(element, tokens, in_link)
        tokens.append((_TEXT, "”"))
    elif tag not in _SKIPPED:
        block = tag in BLOCK_TAGS
        if block:
            tokens.append((_TEXT, " "))
        _collect_children(element, tokens, in_link)
        if block:
            tokens.append((_TEXT, " "))


def _collect_children(element: etree._Element, tokens: list[tuple], in_link: bool) -> None:
    _text_token(tokens, element.text)
    for child in element:
        _collect(child, tokens, in_link)
        _text_token(tokens, child.tail)


def serialize_inline(tokens: list[tuple], in_table: bool = False) -> list[tuple[str, str]]:
    """Markdown and plain text of inline tokens, one pair per paragraph (split at <br><br>)."""
    if all(token[0] == _TEXT for token in tokens):
        text = " ".join("".join(token[1] for token in tokens).split())
        return [(escape_text(text), text)] if text else []
    if _is_wrapped_text(tokens):
        # One emphasis around plain text (a caption, a bold standfirst) always parses as written.
        text = " ".join("".join(token[1] for token in tokens[1:-1]).split())
        return [(f"{tokens[0][1]}{escape_text(text)}{tokens[0][1]}", text)] if text else []
    result = []
    for paragraph in _paragraphs(tokens):
        paragraph = _merge_touching_code(_drop_empty_pairs(paragraph))
        if not any(token[0] in (_TEXT, _IMAGE, _CODE) for token in paragraph):
            continue
        markdown = _to_markdown(paragraph, in_table)
        text = "".join(token[1] if token[0] in (_TEXT, _CODE) else "\n" if token[0] == _BREAK else "" for token in paragraph)
        if markdown.strip():
            result.append((markdown, text.strip()))
    return result


def _is_wrapped_text(tokens: list[tuple]) -> bool:
    return (
        len(tokens) >= 3
        and tokens[0][0] == _OPEN
        and tokens[-1][0] == _CLOSE
        and tokens[0][1] == tokens[-1][1]
        and all(token[0] == _TEXT for token in tokens[1:-1])
    )


def _paragraphs(tokens: list[tuple]) -> list[list[tuple]]:
    """Collapse whitespace across tokens, move it out of emphasis, split at double breaks.

    Breaks and spaces are held back until the next piece of content, so a
    break or space just before a closing delimiter lands after it.
    """
    paragraphs: list[list[tuple]] = [[]]
    out = paragraphs[0]
    content = False
    space = False
    breaks = 0
    for token in tokens:
        kind = token[0]
        if kind == _BREAK:
            breaks += 1
            continue
        if kind == _TEXT:
            raw = token[1]
            words = raw.split()
            if not words:
                space = True
                continue
            space = space or raw[0].isspace()
            token = (_TEXT, " ".join(words))
        elif kind == _CODE:
            code = " ".join(token[1].split())
            if not code:
                continue
            token = (_CODE, code)
        if kind not in (_CLOSE, _END_LINK):
            if breaks and content:
                if breaks > 1:
                    out = []
                    paragraphs.append(out)
                    content = False
                else:
                    out.append((_BREAK,))
                space = False
            breaks = 0
            if space and content:
                _insert_space(out)
            space = False
        if kind == _CODE and out and out[-1][0] == _CODE:
            token = (_CODE, out.pop()[1] + token[1])
        out.append(token)
        if kind in (_TEXT, _IMAGE, _CODE):
            content = True
            if kind == _TEXT:
                space = raw[-1].isspace()
    return [_balance(paragraph) for paragraph in paragraphs]


def _balance(tokens: list[tuple]) -> list[tuple]:
    """Drop openers and closers left without a partner by a paragraph split."""
    stack: list[int] = []
    unmatched: set[int] = set()
    for index, token in enumerate(tokens):
        kind = token[0]
        if kind in (_OPEN, _LINK):
            stack.append(index)
        elif kind in (_CLOSE, _END_LINK):
            partner = _OPEN if kind == _CLOSE else _LINK
            if stack and tokens[stack[-1]][0] == partner:
                stack.pop()
            else:
                unmatched.add(index)
    unmatched.update(stack)
    return [token for index, token in enumerate(tokens) if index not in unmatched] if unmatched else tokens


def _insert_space(out: list[tuple]) -> None:
    """Add a space at the end, but before any emphasis or link openers just emitted."""
    position = len(out)
    while position and out[position - 1][0] in (_OPEN, _LINK):
        position -= 1
    if position and out[position - 1][0] == _TEXT:
        out[position - 1] = (_TEXT, out[position - 1][1] + " ")
    else:
        out.insert(position, (_TEXT, " "))


def _drop_empty_pairs(tokens: list[tuple]) -> list[tuple]:
    """Simplify emphasis and links until CommonMark reads them as written; drop trailing breaks.

    Empty pairs go. Emphasis nested in emphasis of the same kind goes (`*a *b* c*`
    would not parse back). A span that starts right where one of the same kind
    ends is merged into it (`*a**b*` would read `**` as one run), and one of
    another kind starting there loses its delimiters.
    """
    changed = True
    while changed:
        changed = False
        kept: list[tuple] = []
        dropped: list[bool] = []
        open_delimiters: list[str] = []
        for token in tokens:
            kind = token[0]
            if kind == _OPEN:
                previous = kept[-1] if kept else None
                if token[1] in open_delimiters or (previous is not None and previous[0] == _CLOSE and previous[1] != token[1]):
                    dropped.append(True)
                    changed = True
                elif previous is not None and previous[0] == _CLOSE:
                    kept.pop()
                    open_delimiters.append(token[1])
                    dropped.append(False)
                    changed = True
                else:
                    kept.append(token)
                    open_delimiters.append(token[1])
                    dropped.append(False)
            elif kind == _CLOSE:
                if dropped.pop():
                    continue
                open_delimiters.pop()
                if kept and kept[-1][0] == _OPEN:
                    kept.pop()
                    changed = True
                else:
                    kept.append(token)
            elif kind == _END_LINK and kept and kept[-1][0] == _LINK:
                kept.pop()
                changed = True
            else:
                kept.append(token)
        tokens = kept
    while tokens and tokens[-1][0] == _BREAK:
        tokens.pop()
    return _strip_edge_spaces(tokens)


def _strip_edge_spaces(tokens: list[tuple]) -> list[tuple]:
    for index in (0, -1):
        for position in range(len(tokens)) if index == 0 else range(len(tokens) - 1, -1, -1):
            kind = tokens[position][0]
            if kind == _TEXT:
                text = tokens[position][1].lstrip() if index == 0 else tokens[position][1].rstrip()
                tokens[position] = (_TEXT, text)
                break
            if kind not in (_OPEN, _CLOSE, _LINK, _END_LINK):
                break
    return tokens


def _merge_touching_code(tokens: list[tuple]) -> list[tuple]:
    """Merge code spans that only emphasis delimiters separate, dropping that emphasis.

    Otherwise their backtick fences would touch once a delimiter is dropped
    (or even with it, `` `a`**`b` ``), and CommonMark would read one run of
    backticks where two fences were meant: garbled code, or worse. One pass:
    a span merged into the one before it extends that one.
    """
    if sum(1 for token in tokens if token[0] == _CODE) < 2:
        return tokens
    partner: dict[int, int] = {}
    stack: list[int] = []
    for index, token in enumerate(tokens):
        if token[0] == _OPEN:
            stack.append(index)
        elif token[0] == _CLOSE:
            opener = stack.pop()
            partner[index], partner[opener] = opener, index
    code: dict[int, str] = {}  # the spans that others were merged into, and their merged text
    dropped: set[int] = set()
    last_code = None
    between: list[int] = []
    for index, token in enumerate(tokens):
        if token[0] == _CODE:
            if last_code is None:
                last_code = index
            else:
                code[last_code] = code.get(last_code, tokens[last_code][1]) + token[1]
                dropped.update((index, *between, *(partner[delimiter] for delimiter in between)))
            between = []
        elif token[0] in (_OPEN, _CLOSE):
            if index not in dropped:
                between.append(index)
        else:
            last_code, between = None, []
    return [(_CODE, code[index]) if index in code else token for index, token in enumerate(tokens) if index not in dropped]


def _to_markdown(tokens: list[tuple], in_table: bool) -> str:
    pieces: list[str] = []
    pairs: list[tuple[int, int]] = []
    links: list[tuple[int, int]] = []
    stack: list[int] = []
    link_stack: list[int] = []
    for token in tokens:
        kind = token[0]
        if kind == _TEXT:
            pieces.append(escape_text(token[1]))
        elif kind == _OPEN:
            stack.append(len(pieces))
            pieces.append(token[1])
        elif kind == _CLOSE:
            pieces.append(token[1])
            pairs.append((stack.pop(), len(pieces) - 1))
        elif kind == _LINK:
            link_stack.append(len(pieces))
            pieces.append("[")
        elif kind == _END_LINK:
            links.append((link_stack.pop(), len(pieces)))
            pieces.append(f"]({_destination(token[1])})")
        elif kind == _IMAGE:
            pieces.append(f"![{escape_text(token[1])}]({_destination(token[2])})")
        elif kind == _CODE:
            pieces.append(_code_span(token[1], in_table))
        elif kind == _BREAK:
            pieces.append("\\\n")
    if pairs:
        _drop_unparseable_emphasis(pieces, pairs, links)
    if links:
        _escape_bang_before_links(pieces, links)
    return "".join(pieces)


def _escape_bang_before_links(pieces: list[str], links: list[tuple[int, int]]) -> None:
    """Escape a `!` right before a link's `[` (in the final pieces, after emphasis was
    dropped), or the link would become an image that readers load by themselves."""
    for start, _ in links:
        previous = start - 1
        while previous >= 0 and not pieces[previous]:
            previous -= 1
        piece = pieces[previous] if previous >= 0 else ""
        if piece.endswith("!") and (len(piece) - 1 - len(piece[:-1].rstrip("\\"))) % 2 == 0:
            pieces[previous] = piece[:-1] + "\\!"


def _drop_unparseable_emphasis(pieces: list[str], pairs: list[tuple[int, int]], links: list[tuple[int, int]]) -> None:
    """Blank delimiter pairs until CommonMark would leave no asterisk of ours as text.

    Whether `*`/`**` become emphasis depends on their neighbours (flanking),
    on adjacent delimiters merging into runs and on the rule of three, so the
    check runs CommonMark's own delimiter algorithm over the pieces, once for
    each spec version's idea of punctuation. A pair with a delimiter left
    over is blanked, and the check runs again; a paragraph still unsettled
    after a few rounds (built to be, as hostile input is) loses all its
    emphasis, its text intact, rather than take time quadratic in its length.
    """
    partner = {opener: closer for opener, closer in pairs} | {closer: opener for opener, closer in pairs}
    for _ in range(_EMPHASIS_ROUNDS):
        leftover = _literal_delimiters(pieces, partner, links, _is_punctuation_030) | _literal_delimiters(
            pieces, partner, links, _is_punctuation_031
        )
        if not leftover:
            return
        for index in leftover:
            pieces[index] = pieces[partner[index]] = ""
    for index in partner:
        pieces[index] = ""


class _Run:
    """A run of `*` as CommonMark sees it: made of one or more of our delimiter pieces."""

    __slots__ = ("can_close", "can_open", "end", "length", "pieces", "start")

    def __init__(self, pieces: list[tuple[int, int]], before: str, after: str, punctuation) -> None:
        self.pieces = pieces
        self.length = sum(length for _, length in pieces)
        self.start, self.end = 0, self.length
        self.can_open = _left_flanking(before, after, punctuation)
        self.can_close = _right_flanking(before, after, punctuation)


def _literal_delimiters(pieces: list[str], partner: dict[int, int], links: list[tuple[int, int]], punctuation) -> set[int]:
    """Indexes of our delimiter pieces CommonMark would leave (partly) as literal asterisks."""
    runs: list[_Run] = []
    run: list[tuple[int, int]] = []
    before = " "
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        if index in partner:
            run.append((index, len(piece)))
            continue
        if run:
            runs.append(_Run(run, before, piece[0], punctuation))
            run = []
        before = piece[-1]
    if run:
        runs.append(_Run(run, before, " ", punctuation))
    # A link's text is an inline context of its own: its delimiters pair up among themselves first.
    for group in _by_link(runs, links):
        _process_emphasis(group)
    leftover: set[int] = set()
    for r in runs:
        offset = 0
        for index, length in r.pieces:
            if offset < r.end and offset + length > r.start:
                leftover.add(index)
            offset += length
    return leftover


def _by_link(runs: list[_Run], links: list[tuple[int, int]]) -> list[list[_Run]]:
    """The runs inside each link (links never nest), then the runs outside all of them; one pass,
    as both are in document order."""
    inside: dict[int, list[_Run]] = {}
    outside: list[_Run] = []
    ordered = sorted(links)
    link = 0
    for run in runs:
        position = run.pieces[0][0]
        while link < len(ordered) and ordered[link][1] < position:
            link += 1
        if link < len(ordered) and ordered[link][0] < position < ordered[link][1]:
            inside.setdefault(link, []).append(run)
        else:
            outside.append(run)
    return [*inside.values(), outside]


def _process_emphasis(runs: list[_Run]) -> None:
    """CommonMark's "process emphasis" over runs of `*`, consuming what pairs up.

    As the reference implementation does: the runs that may still open wait
    on a stack, a match drops those above its opener, and a search that
    failed for one kind of closer never looks below that point again (its
    "openers_bottom"), so a paragraph of many runs stays near linear.
    """
    openers: list[_Run] = []
    bottom: dict[tuple[bool, int], int] = {}
    for closer in runs:
        while closer.can_close and closer.end > closer.start:
            kind = (closer.can_open, closer.length % 3)
            position = _opener_for(closer, openers, bottom.get(kind, 0))
            if position is None:
                bottom[kind] = len(openers)
                break
            opener = openers[position]
            used = 2 if opener.end - opener.start >= 2 and closer.end - closer.start >= 2 else 1
            opener.end -= used
            closer.start += used
            del openers[position + (opener.end > opener.start) :]
            for key, floor in bottom.items():
                bottom[key] = min(floor, len(openers))
        if closer.can_open and closer.end > closer.start:
            openers.append(closer)


def _opener_for(closer: _Run, openers: list[_Run], floor: int) -> int | None:
    """The nearest waiting run `closer` can pair with (the rule of three aside), above `floor`."""
    for position in range(len(openers) - 1, floor - 1, -1):
        opener = openers[position]
        both = opener.can_close or closer.can_open
        if both and (opener.length + closer.length) % 3 == 0 and not (opener.length % 3 == 0 and closer.length % 3 == 0):
            continue
        return position
    return None


def _is_punctuation_030(char: str) -> bool:
    """CommonMark 0.30: Unicode P* categories and ASCII punctuation."""
    return unicodedata.category(char)[0] == "P" or (char.isascii() and not char.isalnum() and not char.isspace())


def _is_punctuation_031(char: str) -> bool:
    """CommonMark 0.31: Unicode P* and S* categories (ASCII punctuation is in them)."""
    return unicodedata.category(char)[0] in "PS"


def _left_flanking(before: str, after: str, punctuation) -> bool:
    if after.isspace():
        return False
    return not punctuation(after) or before.isspace() or punctuation(before)


def _right_flanking(before: str, after: str, punctuation) -> bool:
    if before.isspace():
        return False
    return not punctuation(before) or after.isspace() or punctuation(after)


def escape_text(text: str) -> str:
    """Backslash-escape what CommonMark (and GFM) would read as markup in plain text."""
    if _SPECIAL.search(text) is None:
        return text
    return _SPECIAL.sub(_escape_special, text)


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


def _escape_block_starts(markdown: str) -> str:
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


def _code_span(code: str, in_table: bool) -> str:
    if in_table:
        code = code.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(code)), default=0)
    fence = "`" * (longest + 1)
    if code.startswith(("`", " ")) or code.endswith(("`", " ")):
        code = f" {code} "
    return f"{fence}{code}{fence}"


def _destination(url: str) -> str:
    """A link destination no renderer can misread, that still decodes to the same URL.

    Spaces, controls, angle brackets and backslashes are percent-encoded (as
    renderers would do anyway); parentheses and pipes are backslash-escaped,
    which CommonMark undoes and GFM tables respect; so is an `&` that starts
    an entity, which CommonMark would otherwise decode (`javascript&colon;`).
    """
    url = _URL_PERCENT.sub(lambda match: f"%{ord(match.group()):02X}", url)
    url = _URL_BACKSLASH.sub(r"\\\g<0>", url)
    return _ENTITY_LIKE.sub(lambda match: "\\" + match.group(), url) if "&" in url else url
