"""The cleaned tree → CommonMark body (and its plain text), in one walk.

Why not a converter from PyPI: measured on the seeds, markdownify took ~3 ms
per article (45x an lxml parse, through a BeautifulSoup re-parse) and passes
`<script>` text through as raw HTML; html2text ~2 ms; html-to-markdown ~0.25
ms plus a serialise-and-reparse. This walker works on the tree we already
have, and emits no raw HTML ever.

This module renders blocks; inline.py serialises the content of each one
(emphasis.py checks its emphasis against CommonMark's own algorithm), and
escape.py owns the escaping that makes the output safe under renderers that
pass HTML through (see docs/output.md, "Markdown").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lxml import etree

from .controls import strip_controls
from .escape import backtick_fence, escape_block_starts, escape_text, written_as_is
from .inline import BREAK, CLOSE, OPEN, TEXT, collect, collect_children, serialize_inline, text_token, wrapped_text
from .tree import BLOCK_TAGS

# Below this depth a subtree is rendered as plain text, to bound recursion.
MAX_DEPTH = 200

# Lists and quotes nest at most this deep, their markers taking at most this many columns of
# each line (see _Renderer._container); deeper ones are written unnested, their text kept.
_MAX_NESTING = 6
_MAX_INDENT = 32
# CommonMark list numbers have at most nine digits.
_MAX_LIST_NUMBER = 999_999_999
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# A table's rows are padded with empty cells to its width (the header row always, or GFM drops
# the cells of longer rows; mistune reads no table with a short row) only while that keeps it
# within this many cells for each one its rows span: one row of 2,000 wide cells above 2,000
# one-cell rows would otherwise be written as 200 million empty cells. Past it, short rows
# stay short, which GFM fills in.
_MAX_PADDING_GROWTH = 4
_TABLE_STRUCTURE = frozenset(("thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup", "col"))
# Blocks rendered as their content alone (see _Renderer.block).
_PLAIN_BLOCKS = BLOCK_TAGS - {*_HEADINGS, "ul", "ol", "menu", "dir", "blockquote", "pre", "table", "figure", "hr", "dt"}
_INFO_STRING = re.compile(r"[^A-Za-z0-9_+#.-]")


@dataclass(slots=True)
class Block:
    """One rendered block: its Markdown, its plain text, and what kind it is.

    `interrupts` says whether the block may start on the line after a paragraph's
    last line: CommonMark lets a list interrupt a paragraph unless it is ordered and
    starts at another number than 1 (`intro` then `5. five` is one paragraph).
    """

    markdown: str
    text: str
    kind: str = "paragraph"
    interrupts: bool = False


def render_body(body: etree._Element) -> tuple[str, str]:
    """The body as CommonMark and as plain text (blocks separated by blank lines)."""
    blocks = _Renderer().children(body, 0)
    markdown = "\n\n".join(block.markdown for block in blocks)
    text = "\n\n".join(block.text for block in blocks if block.text)
    return markdown, text


class _Renderer:
    """Walks blocks; remembers the previous list so adjacent lists do not merge, and how deep
    in lists and quotes it is, so that nesting stays within what renderers read back."""

    def __init__(self) -> None:
        self._nesting = 0  # lists and quotes open around the block being rendered
        self._indent = 0  # columns their markers take at the start of each line

    @contextmanager
    def _container(self, width: int) -> Iterator[bool]:
        """Open a list or quote whose marker takes `width` columns, if it may nest; yields whether it does.

        Past _MAX_NESTING levels markdown-it (CommonMark preset) drops the text, and
        every line inside pays every marker's width: a line break 200 quotes deep cost
        400 bytes. A container that may not nest has its content written unnested.
        """
        nests = self._nesting < _MAX_NESTING and self._indent + width <= _MAX_INDENT
        if nests:
            self._nesting += 1
            self._indent += width
        yield nests
        if nests:
            self._nesting -= 1
            self._indent -= width

    def children(self, element: etree._Element, depth: int) -> list[Block]:
        """Render a container whose content may mix blocks and loose inline content."""
        blocks: list[Block] = []
        run: list[tuple] = []
        text_token(run, element.text)
        for child in element:
            tag = child.tag
            if tag in BLOCK_TAGS:
                if run:
                    self._flush(run, blocks, None)
                    run = []
                if tag in _PLAIN_BLOCKS and depth < MAX_DEPTH:
                    if len(child):
                        blocks.extend(self.children(child, depth + 1))
                    else:
                        # A block of text alone (most paragraphs): no tokens to serialise.
                        _append_text(blocks, child.text)
                else:
                    blocks.extend(self.block(child, depth + 1, blocks))
            else:
                collect(child, run, False)
            text_token(run, child.tail)
        if run:
            self._flush(run, blocks, None)
        return blocks

    def _flush(self, run: list[tuple], blocks: list[Block], kind: str | None) -> None:
        if not run or (len(run) == 1 and run[0][0] == TEXT and run[0][1].isspace()):
            return
        for markdown, text in serialize_inline(run):
            blocks.append(Block(escape_block_starts(markdown), text, kind or "paragraph"))

    def block(self, element: etree._Element, depth: int, before: list[Block]) -> list[Block]:
        tag = element.tag
        if depth > MAX_DEPTH:
            text = " ".join(strip_controls("".join(element.itertext())).split())
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
            tokens: list[tuple] = [(OPEN, "**")]
            collect_children(element, tokens, False)
            tokens.append((CLOSE, "**"))
            blocks: list[Block] = []
            self._flush(tokens, blocks, None)
            return blocks
        return self.children(element, depth)

    def _heading(self, element: etree._Element, level: int) -> list[Block]:
        tokens: list[tuple] = []
        collect_children(element, tokens, False)
        tokens = [(TEXT, " ") if token[0] == BREAK else token for token in tokens]
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
        number = _int_attribute(element, "start", 1) if ordered else 1
        if ordered:
            delimiter = ")" if previous_kind == "ordered list ." else "."
        else:
            bullet = "*" if previous_kind == "bullet list -" else "-"
        # The widest marker this list can have ("999999999. "), or a bullet's "- ".
        width = len(str(min(number + len(element), _MAX_LIST_NUMBER))) + 2 if ordered else 2
        with self._container(width) as nests:
            items = [item for item in self._items(element, depth) if item]
        if not nests:
            return [block for item in items for block in item]
        if not items:
            return []
        if ordered:
            number = min(number, _MAX_LIST_NUMBER - len(items) + 1)
        # An item's blocks go on consecutive lines only when each after the first is a list that can
        # interrupt a paragraph; anything else would be read into the block before it.
        loose = any(not block.interrupts for item in items for block in item[1:])
        lines, texts = [], []
        for index, item in enumerate(items):
            marker = f"{number + index}{delimiter}" if ordered else bullet
            if item[0].kind == "rule" and not ordered:
                # "- ---" is a thematic break, not an item holding one: draw it in the other character.
                item[0] = Block("***" if bullet == "-" else "---", "", "rule")
            body = ("\n\n" if loose else "\n").join(b.markdown for b in item)
            lines.append(_indent_item(marker, body))
            texts.append(" ".join(b.text for b in item if b.text))
        kind = f"ordered list {delimiter}" if ordered else f"bullet list {bullet}"
        return [Block(("\n\n" if loose else "\n").join(lines), "\n".join(texts), kind, number == 1)]

    def _items(self, element: etree._Element, depth: int) -> list[list[Block]]:
        """A list's items, each as its blocks; a list or block straight inside the list (not in an
        <li>) joins the item before it, or makes one."""
        items: list[list[Block]] = []
        for child in element:
            if child.tag == "li":
                items.append(self.children(child, depth + 1))
            elif child.tag in ("ul", "ol") and items:
                items[-1].extend(self._list(child, depth + 1, items[-1]))
            elif child.tag in BLOCK_TAGS:
                items.append(self.block(child, depth + 1, []))
        return items

    def _quote(self, element: etree._Element, depth: int) -> list[Block]:
        with self._container(len("> ")) as nests:
            inner = self.children(element, depth)
        if not inner or not nests:
            return inner
        markdown = "\n\n".join(b.markdown for b in inner)
        quoted = "\n".join(f"> {line}" if line else ">" for line in markdown.split("\n"))
        return [Block(quoted, "\n\n".join(b.text for b in inner if b.text), "quote")]

    def _figure(self, element: etree._Element, depth: int) -> list[Block]:
        blocks: list[Block] = []
        caption = None
        run: list[tuple] = []
        text_token(run, element.text)
        for child in element:
            if child.tag == "figcaption":
                caption = child
            elif child.tag in BLOCK_TAGS:
                self._flush(run, blocks, None)
                run = []
                blocks.extend(self.block(child, depth + 1, blocks))
            else:
                collect(child, run, False)
                self._flush(run, blocks, None)
                run = []
            text_token(run, child.tail)
        self._flush(run, blocks, None)
        if caption is not None and not len(caption):
            # A caption of text alone (nearly all): no tokens to build and serialise.
            for markdown, text in wrapped_text("*", strip_controls(caption.text or "")):
                blocks.append(Block(escape_block_starts(markdown), text, "caption"))
        elif caption is not None:
            tokens: list[tuple] = []
            collect_children(caption, tokens, False)
            tokens = [(TEXT, " ") if t[0] == BREAK else t for t in tokens if t[0] not in (OPEN, CLOSE)]
            self._flush([(OPEN, "*"), *tokens, (CLOSE, "*")], blocks, "caption")
        return blocks

    def _table(self, element: etree._Element, depth: int) -> list[Block]:
        """A GFM pipe table; a one-column (layout) table as plain blocks. Anything a
        table holds outside its cells (a caption, stray text) becomes blocks around it."""
        rows, parts = _table_rows(element)
        caption = [block for child in element if child.tag == "caption" for block in self.children(child, depth + 1)]
        strays: list[Block] = []
        for part in parts:
            loose = [part.text, *(child.tail for child in part if child.tag in _TABLE_STRUCTURE)]
            run: list[tuple] = []
            for text in loose:
                text_token(run, text)
            self._flush(run, strays, None)
            for child in part:
                if child.tag not in _TABLE_STRUCTURE:
                    strays.extend(self.block(child, depth + 1, []))
        spans = [sum(span for _, span in row) for row in rows]
        width = max(spans, default=0)
        if width <= 1:
            cells = [block for row in rows for cell, _ in row for block in self.children(cell, depth + 1)]
            return caption + cells + strays
        padded = len(rows) * width <= _MAX_PADDING_GROWTH * sum(spans)
        lines, texts = [], []
        for index, row in enumerate(rows):
            cells, plain = [], []
            for cell, span in row:
                markdown, text = _cell(cell)
                cells.extend([markdown] + [""] * (span - 1))
                plain.append(text)
            if index == 0 or padded:
                cells.extend([""] * (width - len(cells)))
            lines.append("| " + " | ".join(cells) + " |")
            texts.append("\t".join(plain))
            if index == 0:
                lines.append("|" + " --- |" * width)
        return [*caption, Block("\n".join(lines), "\n".join(texts), "table"), *strays]


def _append_text(blocks: list[Block], text: str | None) -> None:
    """Append the paragraph a block holding only `text` renders as, as _flush would."""
    if not text:
        return
    if written_as_is(text):
        markdown = text
    else:
        text = " ".join(strip_controls(text).split())
        if not text:
            return
        markdown = escape_text(text)
    blocks.append(Block(escape_block_starts(markdown), text))


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
    collect_children(cell, tokens, False)
    tokens = [(TEXT, " ") if token[0] == BREAK else token for token in tokens]
    rendered = serialize_inline(tokens, in_table=True)
    return " ".join(m for m, _ in rendered), " ".join(t for _, t in rendered)


def _code_block(pre: etree._Element) -> list[Block]:
    code = strip_controls(_preformatted_text(pre)).strip("\n")
    if not code.strip():
        return []
    fence = backtick_fence(code, 3)
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
