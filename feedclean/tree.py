"""Small lxml helpers the stages share: removing and unwrapping elements without losing text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

# Elements that start a block of their own; everything else flows inline.
BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "center",
        "details",
        "dialog",
        "dd",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "caption",
        "colgroup",
    ]
)


# Characters no HTML or XML document may hold; libxml2 refuses them in the tree.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """`text` without the characters libxml2 refuses in a tree (C0 controls but tab and newlines, U+FFFE/FFFF)."""
    return _XML_INVALID.sub("", text)


def raw_text(element: etree._Element) -> str:
    """All the text inside `element` (not its tail), serialised by libxml2 rather than joined in Python."""
    if not len(element):
        return element.text or ""
    return etree.tostring(element, method="text", encoding=str, with_tail=False)


def text_of(element: etree._Element) -> str:
    """The element's text with whitespace collapsed, as a reader would see it."""
    return " ".join(raw_text(element).split())


def visible_length(element: etree._Element) -> int:
    """How many non-whitespace characters the element shows."""
    return len("".join(raw_text(element).split()))


# Nodes whose text is no line's (a comment's, a processing instruction's) or that the walk
# below reads otherwise than libxml2 does (an entity's).
_NOT_TEXT_NODES = (etree.Comment, etree.ProcessingInstruction, etree.Entity)


def lines_of(element: etree._Element) -> list[tuple[str, etree._Element | None]]:
    """The element's text as a reader sees it line by line (a <br> starts a new line): each
    non-empty line's text, whitespace collapsed, with the <br> it starts after (None for the first)."""
    if next(element.iter("br", *_NOT_TEXT_NODES), None) is None:  # one line, read by libxml2
        text = text_of(element)
        return [(text, None)] if text else []
    lines: list[tuple[list[str], etree._Element | None]] = [([], None)]
    for event, node in etree.iterwalk(element, events=("start", "end")):
        if event == "start":
            if node.tag == "br":
                lines.append(([], node))
            elif node.text:
                lines[-1][0].append(node.text)
        elif node is not element and node.tail:
            lines[-1][0].append(node.tail)
    found = ((" ".join("".join(pieces).split()), start) for pieces, start in lines)
    return [(text, start) for text, start in found if text]


def cut_from(start: etree._Element, root: etree._Element) -> None:
    """Remove `start` and everything after it inside `root`, in document order."""
    node = start
    while node is not root and node.getparent() is not None:
        parent = node.getparent()
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node.tail = None
        node = parent
    remove(start)


def remove_line(block: etree._Element, start: etree._Element | None, end: etree._Element | None) -> None:
    """Remove one line of `block`: what lies between the <br> `start` (None: the block's start)
    and the <br> `end` (None: its end), both children of `block`, with one of the two breaks."""
    if start is None:
        kept = end.tail if end is not None else None
        block.text = None
        for child in list(block):
            if child is end:
                break
            block.remove(child)
        if end is not None:
            block.text, end.tail = kept, None
            block.remove(end)
        return
    if end is None:
        cut_from(start, block)
        return
    start.tail = None
    for sibling in list(start.itersiblings()):
        if sibling is end:
            break
        block.remove(sibling)
    block.remove(start)


HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
# What sets a line apart as a label or a heading, when it is all the line holds.
_EMPHASIS = frozenset(("strong", "b")) | HEADINGS


def all_emphasised(element: etree._Element) -> bool:
    """Whether every character of the block sits inside bold or a heading."""
    if (element.text or "").strip():
        return False
    children = list(element)
    return bool(children) and all(child.tag in _EMPHASIS and not (child.tail or "").strip() for child in children)


def excerpt(element: etree._Element, limit: int = 60) -> str:
    """A short description of an element for `feedclean explain`: the tag, its telling attributes, its text."""
    attributes = " ".join(
        f"{name}={value[:40]!r}" if value else name
        for name, value in element.attrib.items()
        if name in ("class", "id", "href", "src") or name.startswith("data-")
    )
    label = f"<{element.tag} {attributes}>" if attributes else f"<{element.tag}>"
    text = text_of(element)
    if text:
        return f"{label} {text[:limit]}{'…' if len(text) > limit else ''}"
    return label


def note(trace: Any, what: str, detail: str | etree._Element, rule: str) -> None:
    """Record a removal for `feedclean explain` (a no-op when not explaining); an element's
    excerpt is only made when explaining."""
    if trace is not None:
        trace.remove(what, detail if isinstance(detail, str) else excerpt(detail), rule)


def remove(element: etree._Element) -> None:
    """Remove `element` and its content, keeping the text that followed it."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def replace_with_text(element: etree._Element, text: str) -> None:
    """Replace `element` and its content by `text` (its tail stays after the text)."""
    parent = element.getparent()
    if parent is None:
        return
    element.tail = text + (element.tail or "")
    for child in list(element):
        element.remove(child)
    remove(element)


def unwrap(element: etree._Element) -> None:
    """Replace `element` by its content (text, children and tail stay in place)."""
    parent = element.getparent()
    if parent is None:
        return
    index = parent.index(element)
    previous = element.getprevious()
    lead = element.text or ""
    if previous is not None:
        previous.tail = (previous.tail or "") + lead
    else:
        parent.text = (parent.text or "") + lead
    children = list(element)
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)
    last = children[-1] if children else parent[index - 1] if index > 0 else None
    tail = element.tail or ""
    if last is not None and last is not element:
        last.tail = (last.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(element)


def is_attached(element: etree._Element, root: etree._Element) -> bool:
    """Whether `element` is still inside `root` (it may have gone with a removed ancestor)."""
    for ancestor in element.iterancestors():
        if ancestor is root:
            return True
    return element is root


def leaf_blocks(root: etree._Element) -> list[etree._Element]:
    """Blocks without blocks inside, in document order: the paragraphs a reader sees.

    In document order a block's first block descendant, if it has one, comes
    right after it; so a block is a leaf unless the next block is inside it.
    """
    blocks = block_descendants(root)
    leaves = []
    for index, block in enumerate(blocks, 1):
        if index < len(blocks):
            ancestor = blocks[index].getparent()
            while ancestor is not None and ancestor is not block and ancestor is not root:
                ancestor = ancestor.getparent()
            if ancestor is block:
                continue
        leaves.append(block)
    return leaves


def leaf_blocks_from_end(root: etree._Element) -> Iterator[etree._Element]:
    """leaf_blocks(root) in reverse, found lazily from the end: a walk back over the last
    blocks of a body costs what it reads, not the whole body."""
    stack = [reversed(root)]  # iterators over children, last first: a walk reads what it reaches
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif any(_holds_block(child) for child in node) or (node.tag not in BLOCK_TAGS and len(node)):
            stack.append(child for child in reversed(node) if child.tag in BLOCK_TAGS or len(child))
        elif node.tag in BLOCK_TAGS:
            yield node


def _holds_block(element: etree._Element) -> bool:
    return element.tag in BLOCK_TAGS or any(True for child in element.iterdescendants() if child.tag in BLOCK_TAGS)


def block_descendants(root: etree._Element) -> list[etree._Element]:
    """The blocks under `root`, in document order (filtered here: lxml's many-tag matching is slower)."""
    return [element for element in root.iterdescendants() if element.tag in BLOCK_TAGS]


def trim_separators(body: etree._Element) -> None:
    """Drop rules, breaks and empty blocks at the very start and end of the body."""
    for last in (True, False):
        container = body
        while len(container):
            edge = container[-1] if last else container[0]
            edge_text = edge.tail if last else container.text
            if (edge_text or "").strip():
                break
            if edge.tag in ("hr", "br"):
                remove(edge)
            elif edge.tag in BLOCK_TAGS and edge.tag not in ("table", "ul", "ol", "pre"):
                container = edge
                if not last and (edge.text or "").strip():
                    break
            else:
                break
