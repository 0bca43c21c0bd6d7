"""Part of stage 3, clean: widgets found by link target and by markup.

A share widget is the container around links to share endpoints, a
feed-proxy footer the container around links to the proxy; a container goes
only when it holds nothing but such links (and one label), so article prose
around a stray share link stays. Elements whose tag or attribute names mark
them as widgets go when they hold little text.
"""

from __future__ import annotations

import re

from lxml import etree

from .article import Trace
from .links import Found
from .rules import normalize_label
from .siterules import SiteRules
from .tree import BLOCK_TAGS, excerpt, is_attached, note, remove, text_of, visible_length

# A label ending in a colon beside junk links ("获取更多RSS：") is at most this
# long; an element marked as a widget by its tag or attribute names holds at
# most WIDGET_MAX_CHARS of text.
LABEL_MAX_CHARS = 30
WIDGET_MAX_CHARS = 300
# A block of one share link beside at most this much text is that widget and its label.
SHARE_LABEL_MAX_CHARS = 12
# Text that only separates links in a row: punctuation, symbols, spaces.
SEPARATORS = re.compile(r"[\W_]*")


def remove_link_widgets(body: etree._Element, found: Found, site: SiteRules, trace: Trace | None) -> list[etree._Element]:
    """Remove share links, feed services' links (FeedBurner's flare and ads) and proxy footers
    with the containers that exist only to hold them.

    A container goes when it holds nothing but such links; its parent goes
    too when all the parent adds is one label ("分享 :", "获取更多RSS："). A
    footer link in prose stays. Returns the removed elements' neighbours,
    where a widget's label may still sit.
    """
    kinds = (("share widget", found.share), ("feed service links", found.feed), ("feed-proxy footer", found.footer))
    junk = {link for _, links in kinds for link, _ in links}
    neighbours: list[etree._Element] = []
    for kind, (link, rule) in [(kind, item) for kind, links in kinds for item in links]:
        if not is_attached(link, body):
            continue
        container, around = _junk_container(link, body, junk)
        if around is not None and _is_label_holder(around, site):
            container = container.getparent()
        elif container is link:
            row = _link_row(link, body, junk, footer=kind == "feed-proxy footer")
            if row is not None:
                container = row
            elif kind == "feed-proxy footer":
                continue
        neighbours.extend(neighbours_of(container))
        if trace is not None:
            trace.remove(kind, excerpt(container), site.describe(*rule))
        remove(container)
    return neighbours


def _junk_container(
    link: etree._Element, body: etree._Element, junk: set[etree._Element]
) -> tuple[etree._Element, Outside | None]:
    """The largest ancestor of `link` that holds nothing but junk links, and what its parent
    shows outside them (None when the parent is the body)."""
    container = link
    parent = link.getparent()
    while parent is not None and parent is not body:
        outside = Outside(parent, junk)
        if outside.text or outside.content:
            return container, outside
        container = parent
        parent = parent.getparent()
    return container, None


def _link_row(link: etree._Element, body: etree._Element, junk: set[etree._Element], footer: bool) -> etree._Element | None:
    """The block around `link` when it is a row of such links with a few words between
    ("Share this with friends: Facebook, X or e-mail."), else None.

    A row of share links needs two of them; a feed-proxy footer ("Powered by
    RSS.app") needs to be the last thing in the body, since a link to the
    proxy in a sentence is content.
    """
    block = next((ancestor for ancestor in link.iterancestors() if ancestor.tag in BLOCK_TAGS), None)
    if block is None or block is body:
        return None
    outside = Outside(block, junk)
    if outside.content or len(outside.text) > LABEL_MAX_CHARS:
        return None
    if footer:
        return block if _ends_body(block, body) else None
    if len(outside.text) <= SHARE_LABEL_MAX_CHARS:  # "Add to <a>del.icio.us</a>", "Share: <a>…</a>"
        return block
    return block if sum(1 for element in block.iter("a") if element in junk) >= 2 else None


def _ends_body(element: etree._Element, body: etree._Element) -> bool:
    """Whether nothing with text or an image follows `element` in the body."""
    node = element
    while node is not body:
        if (node.tail or "").strip():
            return False
        for sibling in node.itersiblings():
            if visible_length(sibling) or next(sibling.iter("img"), None) is not None:
                return False
        node = node.getparent()
    return True


def _is_label_holder(outside: Outside, site: SiteRules) -> bool:
    """Whether all an element holds beside junk links is one short label."""
    if outside.content or outside.holders != 1:
        return False
    return is_label(outside.text, site)


def is_label(text: str, site: SiteRules) -> bool:
    """Whether `text` is a widget's label: a share word, or a few words ending in a colon."""
    return normalize_label(text) in site.share_labels or (len(text) <= LABEL_MAX_CHARS and text.endswith((":", "：")))


class Outside:
    """What an element shows outside its junk links: text (separators such as "|" and
    "·" between the links aside), the blocks holding it, other content."""

    __slots__ = ("content", "holders", "text")

    def __init__(self, element: etree._Element, junk: set[etree._Element]) -> None:
        pieces: list[str] = []
        holders: set[etree._Element] = set()
        content = False
        stack = [(element, element)]  # each element with the block holding its text
        while stack:
            node, holder = stack.pop()
            text = node.text
            if text and not SEPARATORS.fullmatch(text):
                pieces.append(text)
                holders.add(holder)
            for child in node:
                if child not in junk:
                    tag = child.tag
                    if tag == "img" or (tag == "a" and child.get("href") and visible_length(child)):
                        content = True
                    else:
                        stack.append((child, child if tag in BLOCK_TAGS else holder))
                tail = child.tail
                if tail and not SEPARATORS.fullmatch(tail):
                    pieces.append(tail)
                    holders.add(holder)
        self.content = content
        self.text = " ".join(" ".join(pieces).split())
        self.holders = len(holders)


def neighbours_of(element: etree._Element) -> list[etree._Element]:
    return [n for n in (element.getprevious(), element.getnext()) if n is not None]


def remove_marked_widgets(body: etree._Element, marked: list[etree._Element], site: SiteRules, trace: Trace | None) -> None:
    """Remove elements whose tag or attribute names mark them as widgets, if they hold little."""
    for element in marked:
        if not is_attached(element, body) or any(True for _ in element.iter("img")):
            continue
        if visible_length(element) <= WIDGET_MAX_CHARS:
            if trace is not None:
                trace.remove("widget", excerpt(element), site.describe("widget_markers", _marker(element, site)))
            remove(element)


def _marker(element: etree._Element, site: SiteRules) -> str:
    for name in (element.tag, *element.attrib):
        for token in name.replace("_", "-").split("-"):
            if token in site.widget_markers:
                return token
    return "?"


def remove_share_labels(candidates: list[etree._Element], site: SiteRules, trace: Trace | None) -> None:
    """A block that only says "Share" next to a removed widget was that widget's label."""
    for element in candidates:
        if element.getparent() is None or len(element) > 1:
            continue
        label = normalize_label(text_of(element))
        if label in site.share_labels:
            note(trace, "share label", element, site.describe("share_labels", label))
            remove(element)
