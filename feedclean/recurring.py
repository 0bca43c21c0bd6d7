"""Part of stage 3 for feed files: what recurs across a feed's own items is the feed's, not the item's.

A channel's "Subscribe to … → https://…" line, a show's contact and sponsor links or a "discuss
it here" link is written into item after item; an article's prose is not. So, across the items
of one feed file, a short sentence (a whole paragraph, or one line of one) that points
somewhere (a link, a web address) and recurs word for word in at least half of the items, and
in three at least, is boilerplate, wherever it sits.

Sentences that point nowhere stay, however often they recur: a recipe's "Preheat the oven",
an interview's standing question, a poem's refrain, a service notice's "All sailings are
cancelled" recur as content, and nothing in a feed tells them from a template's footer. Nor
does a sentence in a list item, a definition or a quotation go, nor (the judgement
`feedclean learn` makes over a folder: `is_prose`, `could_be_boilerplate`, shared here) a
heading, a caption, a table cell, code, an item's lead or whole text, or a text that is any
of those in another item.

This runs between cleaning and extraction, over the items together: the output stays a
function of the input, the feed file.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from lxml import etree

from .article import Article
from .rules import label_key
from .tree import HEADINGS, all_emphasised, leaf_blocks, lines_of, note, remove, remove_line, text_of

# Items a text must recur in: at least this many, and at least this share of the feed's.
MIN_ITEMS = 3
MIN_SHARE = 0.5
# Longer blocks or lines are prose, not boilerplate.
MAX_CHARS = 200

# Blocks whose text belongs to something else: a caption to its image, a cell to its table, code to its listing.
_NOT_PROSE_TAGS = frozenset(("figcaption", "caption", "td", "th", "pre"))
_NOT_PROSE_HOLDERS = frozenset(("figure", "table", "pre", *HEADINGS))
_COLONS = (":", "：")
_SENTENCE_ENDS = tuple(".!?。！？…")
_CLOSING = "\"'”’»)）」』"
_MIN_LETTERS = 2
_MIN_WORDS = 3
_MIN_UNSPACED_CHARS = 6

# Where a boilerplate sentence never sits: in a list's item, a definition or a quotation.
_STRUCTURE_TAGS = frozenset(("li", "dd", "blockquote", "q"))


@dataclass(slots=True)
class _Unit:
    """One short text of an item that may go: a block, or one line of a block (`start`, the <br>
    it starts after; None for the first), with its case-folded text as `key`."""

    key: str
    block: etree._Element
    start: etree._Element | None
    is_line: bool


def remove_recurring(articles: list[Article]) -> None:
    """Remove from each item of one feed the short texts that recur across its items."""
    if len(articles) < MIN_ITEMS:
        return
    items: list[list[_Unit]] = []
    protected: set[str] = set()
    for article in articles:
        units, kept = _units(article.tree)
        items.append(units)
        protected |= kept
    counts = Counter(key for units in items for key in {unit.key for unit in units})
    needed = max(MIN_ITEMS, math.ceil(MIN_SHARE * len(articles)))
    recurring = {key for key, count in counts.items() if count >= needed and key not in protected}
    if not recurring:
        return
    for article, units in zip(articles, items, strict=True):
        chosen = [unit for unit in units if unit.key in recurring]
        if chosen:
            _remove(article, chosen, counts, f"recurs in {{}} of the feed's {len(articles)} items")


def _units(body: etree._Element) -> tuple[list[_Unit], set[str]]:
    """An item's short texts that may go, and the texts it forbids removing anywhere (its lead,
    its headings and captions, its whole text)."""
    units: list[_Unit] = []
    protected = {text_of(body).casefold()}
    lead_seen = False
    for block in leaf_blocks(body):
        text = text_of(block)
        if not text:
            continue
        prose = is_prose(block, text, body)
        if not prose or not lead_seen:
            protected.add(text.casefold())
            lead_seen = lead_seen or prose
            continue
        inside_structure = any(element.tag in _STRUCTURE_TAGS for element in (block, *block.iterancestors()))
        lines = _lines(block)
        found = (
            [_unit(line, block, start, True, inside_structure) for line, start in lines]
            if lines
            else [_unit(text, block, None, False, inside_structure)]
        )
        units.extend(unit for unit in found if unit is not None)
    return units, protected


def _unit(text: str, block: etree._Element, start: etree._Element | None, is_line: bool, inside_structure: bool) -> _Unit | None:
    """The text as a unit that may go, or None: too long, no sentence, in a structure, or
    pointing nowhere."""
    if inside_structure or len(text) > MAX_CHARS or not could_be_boilerplate(text):
        return None
    if "://" not in text and "www." not in text and not _links_on(block, start, is_line):
        return None
    return _Unit(text.casefold(), block, start, is_line)


def _links_on(block: etree._Element, start: etree._Element | None, is_line: bool) -> bool:
    """Whether a block, or its line after `start`, holds a link."""
    if not is_line:
        return next(block.iter("a"), None) is not None
    following = start.itersiblings() if start is not None else iter(block)
    for element in following:
        if element.tag == "br":
            return False
        if element.tag == "a" or next(element.iter("a"), None) is not None:
            return True
    return False


def _lines(block: etree._Element) -> list[tuple[str, etree._Element | None]]:
    """A block's lines, when it has several and every break is the block's own child (a break
    inside a link or in bold is not one this module removes lines at)."""
    lines = lines_of(block)
    if len(lines) < 2 or any(start is not None and start.getparent() is not block for _, start in lines):
        return []
    return lines


def _remove(article: Article, chosen: list[_Unit], counts: Counter, reason: str) -> None:
    """Remove the chosen texts of one item: whole blocks first, then lines, the last line of a
    block first, so that the breaks the others are known by are still in place; a label ending
    in a colon goes with the lines after it when they all went ("Podcast links:")."""
    lines: dict[etree._Element, dict[etree._Element | None, str]] = {}
    for unit in chosen:
        if unit.is_line:
            lines.setdefault(unit.block, {})[unit.start] = unit.key
        else:
            note(article.trace, "recurring text", unit.block, reason.format(counts[unit.key]))
            remove(unit.block)
    for block, starts in lines.items():
        _remove_lines(article, block, starts, counts, reason)


def _remove_lines(
    article: Article, block: etree._Element, starts: dict[etree._Element | None, str], counts: Counter, reason: str
) -> None:
    end = None
    removed_after = kept_after = False
    for text, start in reversed(lines_of(block)):
        if start in starts:
            note(article.trace, "recurring line", starts[start], reason.format(counts[starts[start]]))
            remove_line(block, start, end)
            removed_after = True
        elif removed_after and not kept_after and text.endswith(_COLONS):
            note(article.trace, "recurring line", text, "the label of lines that all recurred")
            remove_line(block, start, end)
        else:
            end, kept_after = start, True
    if not text_of(block) and next(block.iter("img"), None) is None:
        remove(block)


def is_prose(block: etree._Element, text: str, body: etree._Element) -> bool:
    """Whether a block is a paragraph of its own: not a heading (nor a line all in bold that is
    no sentence, "**In brief**", a heading written as a paragraph), a caption, a table
    cell, code or a block with an image (whose text belongs with what it stands beside)."""
    if block.tag in HEADINGS or block.tag in _NOT_PROSE_TAGS or next(block.iter("img"), None) is not None:
        return False
    if all_emphasised(block) and not text.rstrip(_CLOSING).endswith(_SENTENCE_ENDS):
        return False
    for ancestor in block.iterancestors():
        if ancestor is body:
            return True
        if ancestor.tag in _NOT_PROSE_HOLDERS:
            return False
    return True


def could_be_boilerplate(text: str) -> bool:
    """A sentence: three words or more (six characters or more in scripts written without
    spaces), not a separator, number or label ("***", "1.", "Q:"), nor an author's sign-off
    that recurs because the author does ("-- Jeff", "Cheers!"); and not one ending in a colon,
    whose strip_text rule would also remove the list it introduces."""
    if text.endswith(_COLONS) or sum(char.isalpha() for char in text) < _MIN_LETTERS:
        return False
    words = label_key(text).split()
    unspaced = sum(len(word) for word in words if not word.isascii())
    return len(words) >= _MIN_WORDS or unspaced >= _MIN_UNSPACED_CHARS
