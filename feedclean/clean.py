"""Stage 3, clean: apply the rules to the tree.

Junk is found by structure and link target, never by a word somewhere in the
text: a share widget is the container around links to share endpoints, a
feed-proxy footer is the container around links to the proxy, a promo is a
block whose *whole* text matches a rule. Every container removal is guarded
by how much text the container would take with it, so article prose around a
stray share link or a sentence about RSS stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree

from .article import Article, Trace
from .lang import detect_language
from .rules import SiteRules, normalize_label
from .tree import BLOCK_TAGS, block_descendants, excerpt, is_attached, remove, text_of, visible_length
from .urls import (
    IMAGE_SCHEMES,
    LINK_SCHEMES,
    absolutize,
    host_of,
    is_allowed,
    percent_encode_unsafe,
    proxy_host_of,
    tidy_url,
    unwrap_proxy_url,
    url_scheme,
)

# Never article content, in a feed or anywhere else.
ACTIVE_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "param",
    "form",
    "input",
    "button",
    "select",
    "option",
    "textarea",
    "label",
    "svg",
    "math",
    "canvas",
    "audio",
    "video",
    "source",
    "track",
    "link",
    "meta",
    "base",
    "head",
    "map",
    "area",
    "dialog",
    "portal",
    "slot",
)
# A label ending in a colon beside junk links ("获取更多RSS：") is at most this
# long; an element marked as a widget by its tag or attribute names holds at
# most WIDGET_MAX_CHARS of text.
LABEL_MAX_CHARS = 30
WIDGET_MAX_CHARS = 300
# strip_text rules only look at blocks with at most this much text.
_TEXT_RULE_MAX_CHARS = 600
# Attributes that lazy-loading pages use for the real image, best first.
_LAZY_SOURCES = ("data-src", "data-original", "data-lazy-src", "data-url")
_SRCSETS = ("data-srcset", "srcset")
_REPLACED_BY_SRC = ("sizes", *_LAZY_SOURCES, *_SRCSETS)
_HIDDEN = frozenset((("display", "none"), ("visibility", "hidden")))
# Text that only separates links in a row: punctuation, symbols, spaces.
_SEPARATORS = re.compile(r"[\W_]*")
# A first path segment that names a language (zh, en, pt-br), as publishers' URLs do.
_LANGUAGE_SEGMENT = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*", re.IGNORECASE)
_KEEP_WHEN_EMPTY = frozenset(("br", "hr", "img", "td", "th", "tr", "body"))
_ATTRIBUTED_OR_CUSTOM = etree.XPath("descendant::*[@* or contains(local-name(), '-')]")


def clean(article: Article, site: SiteRules) -> None:
    """Remove everything that is not the article and make every URL final."""
    body = article.tree
    trace = article.trace
    if trace is not None:
        for element in body.iter(*ACTIVE_TAGS):
            if not any(ancestor.tag in ACTIVE_TAGS for ancestor in element.iterancestors()):
                trace.remove("active content", excerpt(element), f"<{element.tag}> is never article content")
    etree.strip_elements(body, *ACTIVE_TAGS, with_tail=False)
    etree.strip_tags(body, "title")  # a stray <title> in the body: its words are text
    found = _scan(article, site)
    neighbours = _remove_link_widgets(body, found.share, found.footer, site, trace)
    for element in found.stripped:
        if is_attached(element, body):
            if trace is not None:
                trace.remove("element", excerpt(element), site.describe("strip", site.strip.which(element, body)))
            remove(element)
    _remove_marked_widgets(body, found.marked, site, trace)
    neighbours += _remove_text_blocks(body, site, trace)
    _remove_share_labels(neighbours, site, trace)
    remove_empty(body)
    trim_separators(body)


class _Found:
    """What one pass over the tree found to act on once the pass is over."""

    __slots__ = ("footer", "marked", "share", "stripped")

    def __init__(self) -> None:
        self.share: list[tuple[etree._Element, str]] = []
        self.footer: list[tuple[etree._Element, str]] = []
        self.stripped: list[etree._Element] = []
        self.marked: list[etree._Element] = []


def _scan(article: Article, site: SiteRules) -> _Found:
    """Make image and link URLs final, and collect what the rules point at.

    Only elements with attributes or custom tag names can be links, widgets
    or class-selected; libxml2 finds those, so Python never visits the many
    bare <p>, <strong> and <em>.
    """
    body, base, trace = article.tree, article.base or article.url, article.trace
    found = _Found()
    for image in list(body.iter("img")):
        _fix_image(image, base, site, trace)
    placeholders = _Placeholders(article)
    strip = site.strip
    if strip.tags:
        found.stripped.extend(body.iter(*strip.tags))
    found.stripped.extend(strip.complex_elements(body))
    markers = site.widget_markers
    for element in _ATTRIBUTED_OR_CUSTOM(body):
        tag = element.tag
        if tag == "a":
            _fix_link(element, base, site, placeholders, trace, found)
        if strip.matches_class(element):
            found.stripped.append(element)
        elif markers and tag != "img" and _is_marked(element, tag, markers):
            found.marked.append(element)
    return found


def _is_marked(element: etree._Element, tag: str, markers: frozenset[str]) -> bool:
    """Whether a custom tag or a data-* attribute name carries a widget marker as a token."""
    if "-" in tag and not markers.isdisjoint(tag.split("-")):
        return True
    return any(name.startswith("data-") and not markers.isdisjoint(name.replace("_", "-").split("-")) for name in element.attrib)


def _fix_link(
    element: etree._Element, base: str | None, site: SiteRules, placeholders: _Placeholders, trace: Trace | None, found: _Found
) -> None:
    href = element.get("href")
    if href is None:
        return
    url = percent_encode_unsafe(_final_url(tidy_url(href), base, site, placeholders, trace))
    pattern = site.share_links.match(url)
    if pattern is not None:
        found.share.append((element, site.describe("share_links", pattern)))
    elif not url or url.startswith("#") or not is_allowed(url, LINK_SCHEMES):
        del element.attrib["href"]
        if trace is not None and url and not url.startswith("#"):
            trace.remove("link target (text kept)", f"<a> {href[:80]}", f"unsafe URL scheme {url_scheme(url)!r}")
        return
    elif (host := host_of(url)) in site.footer_hosts:
        found.footer.append((element, site.describe("footer_links", host)))
    element.set("href", url)


def _final_url(url: str, base: str | None, site: SiteRules, placeholders: _Placeholders, trace: Trace | None) -> str:
    """The link made absolute, unwrapped, and rewritten by each rewrite_links rule that matches, in turn."""
    url = _unwrapped(absolutize(url, base), "href", site, trace)
    for rewrite in site.rewrites:
        match = rewrite.pattern.search(url)
        if match is None:
            continue
        placeholders.update({f"g{number}": group or "" for number, group in enumerate((match.group(0), *match.groups()))})
        try:
            replacement = rewrite.replace.format_map(placeholders)
        except KeyError as missing:
            _note(trace, "rewrite skipped", url, f"{site.describe('rewrite_links', rewrite.pattern.pattern)}: no {missing}")
            continue
        rewritten = url[: match.start()] + replacement + url[match.end() :]
        if trace is not None:
            trace.rewrite("href", url, rewritten, site.describe("rewrite_links", rewrite.pattern.pattern))
        url = rewritten
    return url


class _Placeholders(dict):
    """The fields a rewrite_links replacement can name: its match's groups (g1 …), and the
    article's first path segment and language, worked out only when a replacement asks."""

    def __init__(self, article: Article) -> None:
        super().__init__()
        self._article = article

    def __missing__(self, key: str) -> str:
        if key == "article_path_1":
            value = _first_path_segment(self._article.url)
        elif key == "article_lang":
            value = _article_language(self._article)
        else:
            raise KeyError(key)
        if not value:
            raise KeyError(key)
        self[key] = value
        return value


def _article_language(article: Article) -> str:
    """The article's language as its URL names it (dw.com/zh/…), else as its text reads."""
    segment = _first_path_segment(article.url)
    if _LANGUAGE_SEGMENT.fullmatch(segment):
        return segment.lower()
    detected = detect_language(f"{article.title or ''} {text_of(article.tree)}")
    return detected.partition("-")[0].lower() if detected else ""


def _unwrapped(url: str, attribute: str, site: SiteRules, trace: Trace | None) -> str:
    unwrapped = unwrap_proxy_url(url, site.proxies)
    if unwrapped != url and trace is not None:
        trace.rewrite(attribute, url, unwrapped, site.describe("unwrap", proxy_host_of(url)))
    return unwrapped


def _fix_image(image: etree._Element, base: str | None, site: SiteRules, trace: Trace | None) -> None:
    """Give the image one final, safe `src`, or remove it if it is a tracker or has none."""
    chosen, attribute = _image_source(image)
    url = percent_encode_unsafe(_unwrapped(absolutize(tidy_url(chosen), base), attribute, site, trace)) if chosen else ""
    reason = None
    if not url or not is_allowed(url, IMAGE_SCHEMES):
        reason = "image without a usable source"
    elif _is_pixel(image):
        reason = "tracking pixel (1×1 or hidden)"
    elif (pattern := site.trackers.match(url)) is not None:
        reason = site.describe("trackers", pattern)
    if reason:
        _note(trace, "image", image if chosen is None else f"<img> {chosen[:80]}", reason)
        remove(image)
        return
    attributes = image.attrib
    for name in _REPLACED_BY_SRC:
        if name in attributes:
            del attributes[name]
    attributes["src"] = url


def _image_source(image: etree._Element) -> tuple[str | None, str]:
    """The attribute holding the real image: a lazy-loading one (the `src` is then a
    placeholder), else `src`, else the largest candidate of a srcset."""
    for name in _LAZY_SOURCES:
        value = (image.get(name) or "").strip()
        if value and not value.lower().startswith("data:"):
            return value, name
    src = (image.get("src") or "").strip()
    if src and not src.lower().startswith("data:"):
        return src, "src"
    for name in _SRCSETS:
        value = (image.get(name) or "").strip()
        if value:
            return _largest_candidate(value), name
    return (src or None), "src"


def _largest_candidate(srcset: str) -> str:
    """The widest (or densest) URL of a srcset; the first one when no size is given."""
    best, best_size = "", -1.0
    for candidate in srcset.split(","):
        parts = candidate.split()
        if not parts:
            continue
        size = 0.0
        if len(parts) > 1 and _is_number(parts[1][:-1].replace(".", "", 1)):
            size = float(parts[1][:-1])
        if size > best_size:
            best, best_size = parts[0], size
    return best


def _is_pixel(image: etree._Element) -> bool:
    """A 1×1 (or 0×0) image, sized by attributes or by CSS, or a hidden one: a tracker."""
    for name in ("width", "height"):
        if _is_tiny_length(image.get(name)):
            return True
    style = image.get("style")
    if not style:
        return False
    for declaration in style.lower().split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip(), "".join(value.split())
        if (name in ("width", "height", "max-width", "max-height") and _is_tiny_length(value)) or (name, value) in _HIDDEN:
            return True
    return False


def _is_tiny_length(value: str | None) -> bool:
    number = (value or "").strip().lower().removesuffix("!important").strip().removesuffix("px").strip()
    return _is_number(number) and number.lstrip("0") in ("", "1")


def _is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" and "١", which int() and float() refuse or misread."""
    return text.isascii() and text.isdigit()


def _first_path_segment(url: str | None) -> str:
    if not url:
        return ""
    path = url.split("://", 1)[-1].partition("/")[2]
    return path.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]


def _remove_link_widgets(
    body: etree._Element,
    share: list[tuple[etree._Element, str]],
    footer: list[tuple[etree._Element, str]],
    site: SiteRules,
    trace: Trace | None,
) -> list[etree._Element]:
    """Remove share links and proxy footers with the containers that exist only to hold them.

    A container goes when it holds nothing but such links; its parent goes
    too when all the parent adds is one label ("分享 :", "获取更多RSS："). A
    footer link in prose stays. Returns the removed elements' neighbours,
    where a widget's label may still sit.
    """
    junk = {link for link, _ in share} | {link for link, _ in footer}
    neighbours: list[etree._Element] = []
    for (link, rule), kind in [*((item, "share widget") for item in share), *((item, "feed-proxy footer") for item in footer)]:
        if not is_attached(link, body):
            continue
        container = _junk_container(link, body, junk)
        parent = container.getparent()
        if parent is not None and parent is not body and _is_label_holder(parent, junk, site):
            container = parent
        elif container is link:
            row = _link_row(link, body, junk, footer=kind == "feed-proxy footer")
            if row is not None:
                container = row
            elif kind == "feed-proxy footer":
                continue
        neighbours.extend(_neighbours(container))
        _note(trace, kind, container, rule)
        remove(container)
    return neighbours


def _junk_container(link: etree._Element, body: etree._Element, junk: set[etree._Element]) -> etree._Element:
    """The largest ancestor of `link` that holds nothing but junk links."""
    container = link
    parent = link.getparent()
    while parent is not None and parent is not body:
        outside = _Outside(parent, junk)
        if outside.text or outside.content:
            break
        container = parent
        parent = parent.getparent()
    return container


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
    outside = _Outside(block, junk)
    if outside.content or len(outside.text) > LABEL_MAX_CHARS:
        return None
    if footer:
        return block if _ends_body(block, body) else None
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


def _is_label_holder(element: etree._Element, junk: set[etree._Element], site: SiteRules) -> bool:
    """Whether all `element` holds beside junk links is one short label."""
    outside = _Outside(element, junk)
    if outside.content or outside.holders != 1:
        return False
    return _is_label(outside.text, site)


def _is_label(text: str, site: SiteRules) -> bool:
    """Whether `text` is a widget's label: a share word, or a few words ending in a colon."""
    return normalize_label(text) in site.share_labels or (len(text) <= LABEL_MAX_CHARS and text.endswith((":", "：")))


class _Outside:
    """What an element shows outside its junk links: text (separators such as "|" and
    "·" between the links aside), the blocks holding it, other content."""

    __slots__ = ("content", "holders", "text")

    def __init__(self, element: etree._Element, junk: set[etree._Element]) -> None:
        pieces: list[str] = []
        holders: set[etree._Element] = set()
        self.content = False
        stack = [(element, element)]
        while stack:
            node, holder = stack.pop()
            if node.tag in BLOCK_TAGS:
                holder = node
            if node.text and not _SEPARATORS.fullmatch(node.text):
                pieces.append(node.text)
                holders.add(holder)
            for child in node:
                if child in junk:
                    pass
                elif child.tag == "img" or (child.tag == "a" and child.get("href") and visible_length(child)):
                    self.content = True
                else:
                    stack.append((child, holder))
                if child.tail and not _SEPARATORS.fullmatch(child.tail):
                    pieces.append(child.tail)
                    holders.add(holder)
        self.text = " ".join(" ".join(pieces).split())
        self.holders = len(holders)


def _neighbours(element: etree._Element) -> list[etree._Element]:
    return [n for n in (element.getprevious(), element.getnext()) if n is not None]


def _remove_marked_widgets(body: etree._Element, marked: list[etree._Element], site: SiteRules, trace: Trace | None) -> None:
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


def _remove_text_blocks(body: etree._Element, site: SiteRules, trace: Trace | None) -> list[etree._Element]:
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
    neighbours: list[etree._Element] = []
    gone: set[etree._Element] = set()
    for block in blocks:
        if parents[block] in gone:
            gone.add(block)
        elif block in junk:
            gone.add(block)
            neighbours.extend(_neighbours(block))
            _note(trace, "text block", block, site.describe("strip_text", junk[block]))
            remove(block)
    return [element for element in neighbours if element not in gone]


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
    if len(text) > _TEXT_RULE_MAX_CHARS:
        return "content", ""
    hit = site.strip_text.match(text)
    if hit is None:
        return "unmatched", ""
    if all(_shows_only_links_or_label(inner, site) for inner in unmatched):
        return "junk", hit[0]
    return "content", ""


def _shows_only_links_or_label(block: etree._Element, site: SiteRules) -> bool:
    """Whether a block is part of a promo box beside its matching text: a list of links, a "Read more:"."""
    outside = _Outside(block, set(block.iter("a")))
    return not outside.content and (not outside.text or _is_label(outside.text, site))


def _remove_share_labels(candidates: list[etree._Element], site: SiteRules, trace: Trace | None) -> None:
    """A block that only says "Share" next to a removed widget was that widget's label."""
    for element in candidates:
        if element.getparent() is None or len(element) > 1:
            continue
        label = normalize_label(text_of(element))
        if label in site.share_labels:
            _note(trace, "share label", element, site.describe("share_labels", label))
            remove(element)


def remove_empty(body: etree._Element) -> None:
    """Remove wrappers left with no text and no image (nothing but line breaks, if anything),
    innermost first, so a paragraph emptied of its span goes too."""
    for element in reversed(list(body.iter())):
        if element.tag in _KEEP_WHEN_EMPTY:
            continue
        text = element.text
        if text and not text.isspace():
            continue
        for child in element:
            if child.tag != "br" or (child.tail and not child.tail.isspace()):
                break
        else:
            remove(element)


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


def _note(trace: Trace | None, what: str, detail: str | etree._Element, rule: str) -> None:
    """Record a removal for `feedclean explain`; an element's excerpt is only made when explaining."""
    if trace is not None:
        trace.remove(what, detail if isinstance(detail, str) else excerpt(detail), rule)
