"""Part of stage 3, clean: blocks whose whole text is boilerplate (strip_text rules).

A promo, a video fallback or a "first published on" footer is found by its
whole text, never by a word in it: the block goes only when the rule spells
out all of it, so an article sentence that starts the same way stays.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from .article import Trace
from .siterules import SiteRules
from .textrules import TEXT_RULE_MAX_CHARS
from .tree import BLOCK_TAGS, HEADINGS, block_descendants, note, remove, text_of
from .widgets import LABEL_MAX_CHARS, Outside, is_label, neighbours_of

# Blocks whose words are the article's structure, whatever they say: a table's cells (a row
# labelled "Advertising" in a revenue table), code; and a heading shorter than a sentence
# (a section called "Advertising"), while a heading that is a whole promo sentence is one.
_NEVER_BOILERPLATE = frozenset(("td", "th", "pre", "caption", "dt"))
_HEADING_SENTENCE_CHARS = 40


def remove_text_blocks(body: etree._Element, site: SiteRules, trace: Trace | None) -> list[etree._Element]:
    """Remove blocks whose whole text is a promo, video fallback or proxy footer.

    A block goes only when it is nothing else: a paragraph whose text
    matches, or a box whose text matches and whose every inner block matches
    too or shows only links or a label ("Read more: <ul>…"). A wrapper that
    also holds one real paragraph stays, and only its promo goes. Blocks are
    judged innermost first, so a wrapper's text is only read when nothing
    inside it is known content, and the links of a block are only looked at
    when its wrapper's text matches; the outermost junk block goes whole.
    Returns the removed blocks' neighbours, where a widget's label may sit.
    """
    blocks = block_descendants(body)
    parents = {block: _parent_block(block, body) for block in blocks}
    holds_content: set[etree._Element] = set()
    unmatched: dict[etree._Element, list[etree._Element]] = {}  # short blocks matching nothing, by parent
    junk: dict[etree._Element, str] = {}
    for block in reversed(blocks):
        if block in holds_content:
            kind, pattern = "content", ""
        else:
            kind, pattern = _judge_text_block(block, unmatched.pop(block, ()), site)
        if kind == "junk":
            junk[block] = pattern
        elif kind == "content":
            holds_content.add(parents[block])
        elif kind == "unmatched":
            unmatched.setdefault(parents[block], []).append(block)
    if not junk:
        return []
    neighbours: list[etree._Element] = []
    gone: set[etree._Element] = set()
    for block in blocks:
        if parents[block] in gone:
            gone.add(block)
        elif block in junk and block not in gone:
            gone.add(block)
            follower = _introduced_by(block)
            neighbours.extend(neighbours_of(follower if follower is not None else block))
            note(trace, "text block", block, site.describe("strip_text", junk[block]))
            remove(block)
            if follower is not None:
                gone.add(follower)
                note(trace, "text block", follower, "what the boilerplate sentence before it introduces (it ends in a colon)")
                remove(follower)
    return [element for element in neighbours if element not in gone]


def _introduced_by(block: etree._Element) -> etree._Element | None:
    """The list or row of links that a boilerplate sentence ending in a colon introduces
    ("This episode is sponsored by:", "…available to members at the following link:")."""
    following = block.getnext()
    if following is None or (block.tail or "").strip() or not text_of(block).endswith((":", "：")):
        return None
    if following.tag in ("ul", "ol"):
        return following
    links = set(following.iter("a"))
    if following.tag in BLOCK_TAGS and links and next(following.iter("img"), None) is None:
        outside = Outside(following, links)
        if not outside.content and len(outside.text) <= LABEL_MAX_CHARS:
            return following
    return None


def _parent_block(element: etree._Element, body: etree._Element) -> etree._Element:
    parent = element.getparent()
    while parent is not body and parent.tag not in BLOCK_TAGS:
        parent = parent.getparent()
    return parent


def _judge_text_block(block: etree._Element, unmatched: Iterable[etree._Element], site: SiteRules) -> tuple[str, str]:
    """("junk", the strip_text pattern) when the block's whole text matches one and each of its
    `unmatched` inner blocks shows only links or a label; ("unmatched", "") when its text is short
    but matches nothing; ("empty", "") when it shows nothing; else ("content", "")."""
    text = text_of(block)
    if not text:
        return ("content", "") if next(block.iter("img"), None) is not None else ("empty", "")
    tag = block.tag
    if len(text) > TEXT_RULE_MAX_CHARS or tag in _NEVER_BOILERPLATE:
        return "content", ""
    if tag in HEADINGS and len(text) < _HEADING_SENTENCE_CHARS:
        return "content", ""
    hit = site.strip_text.match(text)
    if hit is None:
        return "unmatched", ""
    if all(_shows_only_links_or_label(inner, site) for inner in unmatched):
        return "junk", hit[0]
    return "content", ""


def _shows_only_links_or_label(block: etree._Element, site: SiteRules) -> bool:
    """Whether a block is part of a promo box beside its matching text: a list of links, a "Read more:"."""
    outside = Outside(block, set(block.iter("a")))
    return not outside.content and (not outside.text or is_label(outside.text, site))
