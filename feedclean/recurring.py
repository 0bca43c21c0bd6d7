"""Part of stage 3 for feed files: what recurs across a feed's own items is the feed's, not the item's.

A channel's "Subscribe to …" line, a show's sponsor sentence or a legal notice is written
into item after item; an article's prose is not. So, across the items of one feed file, a
short sentence (a whole paragraph, or one line of it) that recurs word for word in at least
half of the items, and in three at least, is boilerplate, wherever it sits. The judgement is
the one `feedclean learn` makes over a folder (`is_prose`, `could_be_boilerplate`, shared
here): never a heading, a caption, a table cell, code, an item's lead or an item's whole
text, nor a text that is any of those in another item.

This runs between cleaning and extraction, over the items together: the output stays a
function of the input, the feed file.
"""

from __future__ import annotations

import math
from collections import Counter

from lxml import etree

from .article import Article
from .rules import label_key
from .tree import all_emphasised, leaf_blocks, lines_of, note, remove, remove_line, text_of

# Items a text must recur in: at least this many, and at least this share of the feed's.
MIN_ITEMS = 3
MIN_SHARE = 0.5
# Longer blocks or lines are prose, not boilerplate.
MAX_CHARS = 200

_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
# Blocks whose text belongs to something else: a caption to its image, a cell to its table, code to its listing.
_NOT_PROSE_TAGS = frozenset(("figcaption", "caption", "td", "th", "pre"))
_NOT_PROSE_HOLDERS = frozenset(("figure", "table", "pre", *_HEADINGS))
_COLONS = (":", "：")
_SENTENCE_ENDS = tuple(".!?。！？…")
_CLOSING = "\"'”’»)）」』"
_MIN_LETTERS = 2
_MIN_WORDS = 3
_MIN_UNSPACED_CHARS = 6

# A place a recurring text may sit: a whole block, or one line of it (the block, and the <br>
# the line starts after: None for its first line).
_Place = tuple[etree._Element, etree._Element | None] | etree._Element


def remove_recurring(articles: list[Article]) -> None:
    """Remove from each item of one feed the short texts that recur across its items."""
    if len(articles) < MIN_ITEMS:
        return
    places: list[dict[str, list[_Place]]] = []
    protected: set[str] = set()
    for article in articles:
        found, kept = _candidates(article.tree)
        places.append(found)
        protected |= kept
    counts = Counter(key for found in places for key in found)
    needed = max(MIN_ITEMS, math.ceil(MIN_SHARE * len(articles)))
    recurring = {key for key, count in counts.items() if count >= needed and key not in protected}
    if not recurring:
        return
    for article, found in zip(articles, places, strict=True):
        reason = f"recurs in {{}} of the feed's {len(articles)} items"
        _remove(article, {key: spots for key, spots in found.items() if key in recurring}, counts, reason)


def _candidates(body: etree._Element) -> tuple[dict[str, list[_Place]], set[str]]:
    """Where each short sentence of one item sits, by its case-folded text, and the texts it
    forbids removing anywhere (its lead, its headings and captions, its whole text)."""
    found: dict[str, list[_Place]] = {}
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
        if len(text) <= MAX_CHARS and could_be_boilerplate(text):
            found.setdefault(text.casefold(), []).append(block)
        for line, start in _lines(block):
            if len(line) <= MAX_CHARS and could_be_boilerplate(line):
                found.setdefault(line.casefold(), []).append((block, start))
    return found, protected


def _lines(block: etree._Element) -> list[tuple[str, etree._Element | None]]:
    """A block's lines, when it has several and every break is the block's own child (a break
    inside a link or in bold is not one this module removes lines at)."""
    lines = lines_of(block)
    if len(lines) < 2 or any(start is not None and start.getparent() is not block for _, start in lines):
        return []
    return lines


def _remove(article: Article, found: dict[str, list[_Place]], counts: Counter, reason: str) -> None:
    """Remove the recurring texts of one item: whole blocks first, then lines, the last line of a
    block first, so that the breaks the others are known by are still in place; a label ending
    in a colon goes with the lines after it when they all went ("Podcast links:")."""
    lines: dict[etree._Element, dict[etree._Element | None, str]] = {}
    gone: set[etree._Element] = set()
    for key, spots in found.items():
        for spot in spots:
            if isinstance(spot, tuple):
                block, start = spot
                lines.setdefault(block, {})[start] = key
            elif spot not in gone:
                gone.add(spot)
                note(article.trace, "recurring text", spot, reason.format(counts[key]))
                remove(spot)
    for block, chosen in lines.items():
        if block not in gone:
            _remove_lines(article, block, chosen, counts, reason)


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
    if block.tag in _HEADINGS or block.tag in _NOT_PROSE_TAGS or next(block.iter("img"), None) is not None:
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
