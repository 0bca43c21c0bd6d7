"""Stage 2, parse: the body's HTML → one normalised lxml tree.

A feed fragment is parsed as is. A whole web page (navigation, sidebars,
footer) first gives up its metadata, then its article is cut out with
readability-lxml, which is imported only then: it costs ~30x a parse and
drops captions, so fragments never go through it.

The tree is normalised so later stages only meet blocks: loose text and
inline elements between blocks are wrapped in <p>, split where the source
used a blank line (<br><br>) as a paragraph break.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

from lxml import etree

from .article import Article, InputError, Trace
from .plaintext import paragraphs_of_plain_text
from .tree import BLOCK_TAGS, remove, text_of, unwrap, xml_safe

PARSER = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, default_doctype=False)

# Below this depth a pathologically deep document is flattened (see _parse_flattened).
FLATTEN_DEPTH = 100
# References to the controls libxml2 puts in a tree but lxml refuses to set there (C0 but tab
# and line ends: &#27;, &#x1b, &#0027;): moving text that held one raised ValueError, and
# readability's cleaner, meeting one, lost the whole page.
_CONTROL_REFERENCE = re.compile(
    r"&#(?:[xX]0*(?:1[0-9a-fA-F]|[0-8bBcCeEfF])(?![0-9a-fA-F])|0*(?:3[01]|2[0-9]|1[1245-9]|[0-8])(?![0-9]));?"
)
_XML_NAME = re.compile(r"[A-Za-z_][-A-Za-z0-9_.]*")
_VOID_TAGS = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr", "keygen"]
)

# Void in HTML5 but unknown as such to libxml2, which then nests all that
# follows inside them; their "content" is hoisted back out.
_VOID_UNKNOWN_TO_LIBXML2 = frozenset(("embed", "source", "track", "wbr", "keygen"))
_PAGE_CHROME = ["nav", "header", "footer", "aside"]
_HEAD_ONLY = frozenset(("title", "meta", "link", "base", "style", "script", "noscript", "template"))
# The page's <article> replaces readability's choice if it has at most this much more text, and
# holds the first and last characters of that choice.
_MAX_ARTICLE_GROWTH = 1.5
# Inline elements that carry no meaning or style of their own and may wrap whole blocks in
# careless markup (a <label> would take its blocks with it as a form's part). Bold, italics,
# <small> and the like around blocks say something about them (a caption's <small>, a bold
# question) and stay, as a link, a player or an object does.
_INLINE_WRAPPERS = frozenset(("span", "font", "nobr", "label"))
_EDGE_CHARS = 60


def parse(article: Article) -> None:
    """Give `article` its tree (the <body> element) and, for whole pages, the page's metadata."""
    if article.from_feed and not article.html.strip():
        article.tree = etree.SubElement(etree.Element("html"), "body")  # an item of title and link only
        return
    html = paragraphs_of_plain_text(article.html)
    root = _parse_html(html, article.html_utf8 if html is article.html else None)
    if _is_whole_page(root):
        article.page_meta = page_metadata(root)
        if article.trace is not None:
            _trace_page_chrome(article.trace, root)
        root = _page_article(root, _parse_html(_readability_article(article.html)))
    body = _child(root, "body")
    if body is None:
        body = etree.SubElement(root, "body")
    head = _child(root, "head")
    if head is not None:
        # A fragment that starts with <script> or <meta>: libxml2 puts them in a <head>, and with
        # them the elements it does not know (<figure>, <section> …) up to the first it does.
        content = [element for element in head if element.tag not in _HEAD_ONLY]
        for index, element in enumerate(content):
            body.insert(index, element)
    blocks, lists, voids = _survey(body)
    for element in voids:
        unwrap(element)
    # Reading an lxml element's tag builds a new string each time: blocks met again below are
    # known by identity instead (lxml keeps one Python object per element while one is held).
    is_block = {body, *blocks}
    for container in _open_inline_wrappers(blocks, is_block):
        _wrap_loose_inline(container, is_block)
    for listing in lists:
        _itemise_loose_list(listing)
    article.tree = body


def _survey(body: etree._Element) -> tuple[list[etree._Element], list[etree._Element], list[etree._Element]]:
    """The blocks under `body`, the lists among them, and the elements void in HTML5 but not
    to libxml2, in document order, found in one walk (lxml matching several tags costs more
    than reading each tag once). Unwrapping the last keeps the blocks and their order."""
    blocks: list[etree._Element] = []
    lists: list[etree._Element] = []
    voids: list[etree._Element] = []
    for element in body.iterdescendants():
        tag = element.tag
        if tag in BLOCK_TAGS:
            blocks.append(element)
            if tag in ("ul", "ol"):
                lists.append(element)
        elif tag in _VOID_UNKNOWN_TO_LIBXML2:
            voids.append(element)
    return blocks, lists, voids


def _child(parent: etree._Element, tag: str) -> etree._Element | None:
    """parent.find(tag), without lxml's path machinery (which costs more than a parse's tenth)."""
    for child in parent:
        if child.tag == tag:
            return child
    return None


def _itemise_loose_list(listing: etree._Element) -> None:
    """A list holding text but no block (an <ol> written without <li>) gets one item around it,
    so its text is rendered like any list's rather than lost."""
    if any(child.tag in BLOCK_TAGS for child in listing):
        return
    if not (listing.text or "").strip() and not any((child.tail or "").strip() or len(child) or child.text for child in listing):
        return
    item = listing.makeelement("li")
    item.text, listing.text = listing.text, None
    for child in list(listing):
        item.append(child)
    listing.append(item)


def _open_inline_wrappers(blocks: list[etree._Element], is_block: set[etree._Element]) -> list[etree._Element]:
    """An inline element around blocks (<span> or <font> around paragraphs, lists, code) gives
    way to what it holds: rendered inline, its paragraphs would run into one line and its code
    lose its line breaks. Returns the blocks that then hold blocks: the only places loose
    inline content can sit beside a block (found on the same walk up from each block)."""
    wrappers: dict[etree._Element, None] = {}
    containers: dict[etree._Element, None] = {}
    for block in blocks:
        parent = block.getparent()
        opened = True  # every inline element between the block and `parent` is a wrapper
        while parent not in is_block:
            if parent.tag in _INLINE_WRAPPERS:
                wrappers[parent] = None
            else:
                opened = False
            parent = parent.getparent()
        if opened:
            containers[parent] = None
    for wrapper in wrappers:
        unwrap(wrapper)
    return list(containers)


def _parse_html(html: str, utf8: bytes | None = None) -> etree._Element:
    """The HTML's tree; `utf8`, the HTML's UTF-8 if at hand, saves encoding it again."""
    cleaned = _without_control_references(html)
    if cleaned is not html or utf8 is None:
        html, utf8 = cleaned, cleaned.encode("utf-8", "surrogatepass")
    try:
        root = etree.fromstring(utf8, PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as error:
        raise InputError(f"cannot parse the body as HTML: {error}") from None
    error = PARSER.error_log.last_error
    if error is not None and error.type_name == "ERR_RESOURCE_LIMIT":
        root = _parse_flattened(html)
    if root is None:
        raise InputError("the body holds no HTML content")
    return root


def _parse_flattened(html: str) -> etree._Element:
    """Markup nested deeper than libxml2 accepts (it gives up and keeps nothing): rebuilt
    with the standard library's tokenizer, structure below FLATTEN_DEPTH flattened, text kept."""
    builder = _FlatteningBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


class _FlatteningBuilder(HTMLParser):
    """Builds a tree from tokens, flattening below FLATTEN_DEPTH. Linear in the input: an end
    tag with no open element of its name (a flood of stray </span>) is dropped at once."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = etree.Element("html")
        self._elements = [etree.SubElement(self.root, "body")]
        self._open: list[tuple[str, bool]] = []
        self._open_names: Counter[str] = Counter()

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        """`<![…` is a bogus comment in HTML; the standard library raised AssertionError on most."""
        return self.parse_bogus_comment(i, report)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        deep = len(self._elements) > FLATTEN_DEPTH or not _XML_NAME.fullmatch(tag)
        if not deep:
            element = etree.SubElement(self._elements[-1], tag)
            for name, value in attrs:
                if _XML_NAME.fullmatch(name):
                    element.set(name, xml_safe(value or ""))
        if tag in _VOID_TAGS:
            return
        if not deep:
            self._elements.append(element)
        self._open.append((tag, not deep))
        self._open_names[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if not self._open_names[tag]:
            return
        while self._open:
            name, real = self._open.pop()
            self._open_names[name] -= 1
            if real:
                self._elements.pop()
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        data = xml_safe(data)  # a character reference (&#12;) can name what libxml2 refuses
        current = self._elements[-1]
        if len(current):
            current[-1].tail = (current[-1].tail or "") + data
        else:
            current.text = (current.text or "") + data


def _is_whole_page(root: etree._Element) -> bool:
    """Whether the body is a web page (navigation, sidebars, a footer around the article)
    rather than a feed's fragment: a page says what it is in its <head> (a title, named
    metadata, a canonical link). Some feeds wrap every item in an empty
    <html><head></head><body>; that wrapper alone does not make a page, and a fragment
    never goes through readability, which would drop its sections and images."""
    head = root[0] if len(root) else None
    if head is not None and head.tag == "head":
        for element in head.iter("title", "meta", "link"):
            if element.tag == "title" and (element.text or "").strip():
                return True
            if element.tag == "meta" and (element.get("property") or element.get("name")) and element.get("content"):
                return True
            if element.tag == "link" and "canonical" in (element.get("rel") or "").lower().split():
                return True
    return False


def page_metadata(root: etree._Element) -> dict[str, str]:
    """What a page says about itself: OpenGraph, article:*, canonical link, <time>, lang."""
    meta: dict[str, str] = {}
    for element in root.iter("meta", "link", "title", "time", "html"):
        tag = element.tag
        if tag == "meta":
            key = (element.get("property") or element.get("name") or "").strip().lower()
            content = (element.get("content") or "").strip()
            if key and content and key not in meta:
                meta[key] = content
        elif tag == "link" and "canonical" in (element.get("rel") or "").lower().split():
            meta.setdefault("canonical", (element.get("href") or "").strip())
        elif tag == "title" and "title" not in meta:
            meta["title"] = " ".join("".join(element.itertext()).split())
        elif tag == "time" and element.get("datetime"):
            meta.setdefault("time", element.get("datetime").strip())
        elif tag == "html" and element.get("lang"):
            meta["lang"] = element.get("lang").strip()
    return {key: value for key, value in meta.items() if value}


def _trace_page_chrome(trace: Trace, page: etree._Element) -> None:
    chrome = Counter(element.tag for element in page.iter(*_PAGE_CHROME))
    found = ", ".join(f"{count} <{tag}>" for tag, count in sorted(chrome.items())) or "no <nav>, <header>, <footer>, <aside>"
    trace.remove("page outside the article", found, "whole web page: the article is cut out with readability-lxml")


def _page_article(page: etree._Element, chosen: etree._Element) -> etree._Element:
    """What readability chose, or the page's one <article> when that holds the same text and
    little else: readability keeps the best block and may drop the lead figure beside it."""
    articles = page.findall(".//article")
    chosen_text = text_of(chosen)
    if len(articles) != 1 or not chosen_text:
        return chosen
    article = articles[0]
    for element in list(article.iter(*_PAGE_CHROME, "form")):
        remove(element)
    article_text = text_of(article)
    edges = (chosen_text[:_EDGE_CHARS], chosen_text[-_EDGE_CHARS:])
    if len(article_text) > len(chosen_text) * _MAX_ARTICLE_GROWTH or not all(edge in article_text for edge in edges):
        return chosen
    root = etree.Element("html")
    etree.SubElement(root, "body").append(article)
    return root


def _without_control_references(html: str) -> str:
    """The HTML without references to controls lxml refuses in a tree (see _CONTROL_REFERENCE);
    `html` itself when it holds none, which tells the caller nothing changed."""
    if "&" not in html:  # one character is found faster than two
        return html
    cleaned, count = _CONTROL_REFERENCE.subn("", html)
    return cleaned if count else html


def _readability_article(html: str) -> str:
    from readability import Document

    try:
        return Document(_without_control_references(html)).summary(html_partial=True)
    except Exception as error:  # readability raises bare Exceptions of its own
        raise InputError(f"cannot find the article in the web page: {error}") from None


def _wrap_loose_inline(container: etree._Element, is_block: set[etree._Element]) -> None:
    """Wrap runs of text and inline elements that sit beside blocks (`container` holds one
    at least; `is_block` holds them all) into <p> elements."""
    run: list[etree._Element] = []
    lead_text = container.text
    if lead_text is not None:
        container.text = None
    for child in list(container):
        if child not in is_block:
            run.append(child)
            continue
        if run or (lead_text and not lead_text.isspace()):
            _flush_run(container, lead_text, run, before=child)
            run = []
        lead_text = child.tail
        if lead_text is not None:
            child.tail = None
    _flush_run(container, lead_text, run, before=None)


def _flush_run(container: etree._Element, text: str | None, run: list[etree._Element], before: etree._Element | None) -> None:
    """Put one run of loose content into paragraphs, one per <br><br>-separated part."""
    if not run and (not text or text.isspace()):
        return
    paragraphs: list[tuple[str | None, list[etree._Element]]] = [(text, [])]
    pending_breaks: list[etree._Element] = []
    for element in run:
        if element.tag == "br":
            pending_breaks.append(element)
            if (element.tail or "").strip():
                paragraphs, pending_breaks = _add_breaks(paragraphs, pending_breaks), []
            continue
        paragraphs, pending_breaks = _add_breaks(paragraphs, pending_breaks), []
        paragraphs[-1][1].append(element)
    for element in pending_breaks:
        _remove_keep_tail(element)
    for lead, elements in paragraphs:
        if not (lead or "").strip() and not elements:
            continue
        paragraph = container.makeelement("p")  # in the tree's document: etree.Element makes one of its own
        paragraph.text = lead
        if before is None:
            container.append(paragraph)
        else:
            before.addprevious(paragraph)
        for element in elements:
            paragraph.append(element)


def _add_breaks(
    paragraphs: list[tuple[str | None, list[etree._Element]]], breaks: list[etree._Element]
) -> list[tuple[str | None, list[etree._Element]]]:
    """One <br> stays a line break; two or more end the paragraph (the last one's tail starts the next)."""
    if not breaks:
        return paragraphs
    current = paragraphs[-1]
    empty_so_far = not (current[0] or "").strip() and not current[1]
    if len(breaks) == 1 and not empty_so_far:
        current[1].append(breaks[0])
        return paragraphs
    tail = breaks[-1].tail
    for element in breaks:
        _remove_keep_tail(element, keep=False)
    if empty_so_far:
        paragraphs[-1] = (tail, current[1])
        return paragraphs
    return [*paragraphs, (tail, [])]


def _remove_keep_tail(element: etree._Element, keep: bool = True) -> None:
    """Remove `element`; with `keep`, its tail text joins whatever came before it."""
    parent = element.getparent()
    if parent is None:
        return
    if keep and element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)
