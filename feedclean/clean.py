"""Stage 3, clean: apply the rules to the tree.

Junk is found by structure and link target, never by a word somewhere in the
text. The stage runs in this order, each step in its own module:

    active content out, formulas and video embeds made text and links (here)
    → links.py: every URL made final; share, feed and footer links found
    → widgets.py: share widgets, feed-service rows, proxy footers, marked widgets
    → boilerplate.py: blocks whose whole text is a promo or footer sentence
    → endmatter.py: what trails the article (read-more, permalinks, related links …)
    → empty wrappers and edge separators out (here)

Every container removal is guarded by how much text the container would take
with it, so article prose around a stray share link or a sentence about RSS
stays.
"""

from __future__ import annotations

from lxml import etree

from .article import Article, Trace
from .boilerplate import remove_text_blocks
from .endmatter import remove_end_matter
from .links import scan
from .siterules import SiteRules
from .tree import BLOCK_TAGS, excerpt, is_attached, remove, trim_separators
from .urls import tidy_url
from .widgets import remove_link_widgets, remove_marked_widgets, remove_share_labels

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
_PLAYERS = ("iframe", "embed", "object", "video")
_KEEP_WHEN_EMPTY = frozenset(("br", "hr", "img", "td", "th", "tr", "body"))


def clean(article: Article, site: SiteRules) -> None:
    """Remove everything that is not the article and make every URL final."""
    body = article.tree
    trace = article.trace
    if trace is not None:
        for element in body.iter(*ACTIVE_TAGS):
            if not any(ancestor.tag in ACTIVE_TAGS for ancestor in element.iterancestors()):
                trace.remove("active content", excerpt(element), f"<{element.tag}> is never article content")
    # Every element's Python object is held until the stage ends: each later walk of the tree
    # then gets the same objects back from lxml instead of having new ones built.
    elements = list(body.iter())
    # The tags present, found in one walk: lxml matching the many active tags costs more.
    present = {element.tag for element in elements}
    if "math" in present:
        _formulas_as_text(body)
    if not present.isdisjoint(_PLAYERS):
        _embeds_as_links(body, site, trace)
    active = present.intersection(ACTIVE_TAGS)
    if active:
        etree.strip_elements(body, *active, with_tail=False)
    if "title" in present:
        etree.strip_tags(body, "title")  # a stray <title> in the body: its words are text
    found = scan(article, site)
    neighbours = remove_link_widgets(body, found, site, trace)
    for element in found.stripped:
        if is_attached(element, body):
            if trace is not None:
                trace.remove("element", excerpt(element), site.describe("strip", site.strip.which(element, body)))
            remove(element)
    remove_marked_widgets(body, found.marked, site, trace)
    neighbours += remove_text_blocks(body, site, trace)
    remove_share_labels(neighbours, site, trace)
    remove_empty(body)
    remove_end_matter(article, site, found.scripted)
    trim_separators(body)
    del elements


def _embeds_as_links(body: etree._Element, site: SiteRules, trace: Trace | None) -> None:
    """An embedded player (a YouTube or Vimeo iframe) becomes a link to its video's page, so
    "Here is the video:" still leads to the video; the player itself is active content."""
    if not site.embeds:
        return
    for player in list(body.iter(*_PLAYERS)):
        source = tidy_url(player.get("src") or player.get("data") or player.get("data-src") or "")
        page, pattern = _embedded_page(source, site) if source else (None, "")
        if page is None or player.getparent() is None:
            continue
        link = etree.Element("a", href=page)
        link.text = " ".join((player.get("title") or "").split()) or page
        if any(sibling.tag in BLOCK_TAGS for sibling in player.getparent()):
            paragraph = etree.Element("p")
            paragraph.append(link)
            link = paragraph
        link.tail = player.tail
        player.getparent().replace(player, link)
        if trace is not None:
            trace.rewrite("src", source, page, site.describe("embeds", pattern))


def _embedded_page(source: str, site: SiteRules) -> tuple[str | None, str]:
    """The page of the video an embedded player shows, and the embeds pattern that says so."""
    for pattern, replace, _origin in site.embeds:
        match = pattern.search(source)
        if match is not None:
            return match.expand(replace), pattern.pattern
    return None, ""


def _formulas_as_text(body: etree._Element) -> None:
    """Replace each MathML formula by its text, so "When <math>…</math>, there are two
    solutions" keeps its formula: the author's alttext, else a TeX annotation, else the
    formula's own characters (a ≠ 0)."""
    for formula in list(body.iter("math")):
        if formula.getparent() is None or any(ancestor.tag == "math" for ancestor in formula.iterancestors()):
            continue
        text = _formula_text(formula)
        replacement = etree.Element("span")
        replacement.text = text
        replacement.tail = formula.tail
        formula.getparent().replace(formula, replacement)


def _formula_text(formula: etree._Element) -> str:
    alternative = " ".join((formula.get("alttext") or "").split())
    if alternative:
        return alternative
    for annotation in formula.iter("annotation"):
        if "tex" in (annotation.get("encoding") or "").lower():
            tex = " ".join((annotation.text or "").split())
            if tex:
                return tex
    visible = (node for node in formula.iter() if node.tag not in ("annotation", "annotation-xml"))
    return " ".join("".join(node.text or "" for node in visible).split())


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
