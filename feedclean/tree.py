"""Small lxml helpers the stages share: removing and unwrapping elements without losing text."""

from __future__ import annotations

from lxml import etree


def text_of(element: etree._Element) -> str:
    """The element's text with whitespace collapsed, as a reader would see it."""
    return " ".join("".join(element.itertext()).split())


def visible_length(element: etree._Element) -> int:
    """How many non-whitespace characters the element shows."""
    return sum(len(chunk) for chunk in "".join(element.itertext()).split())


def excerpt(element: etree._Element, limit: int = 60) -> str:
    """A short description of an element for `feedclean explain`."""
    text = text_of(element)
    label = f"<{element.tag}>"
    if text:
        return f"{label} {text[:limit]}{'…' if len(text) > limit else ''}"
    for name in ("href", "src", "class", "id"):
        value = element.get(name)
        if value:
            return f"{label} {name}={value[:limit]}"
    return label


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
