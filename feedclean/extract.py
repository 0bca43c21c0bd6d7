"""Stage 4, extract: metadata, images and captions from the cleaned tree.

What is metadata rather than text leaves the body here: the date line and
the copyright notice. Captions are paired with their images by position and
the pair is rewritten as <figure><img><figcaption>, the one shape the
renderer knows, so each caption stays with its own image.
"""

from __future__ import annotations

import hashlib

from lxml import etree

from .article import Article, Image, Source, Trace
from .dates import parse_date_line, parse_iso
from .lang import detect_language
from .read import clean_text, plain_title
from .rules import SiteRules
from .tree import remove, text_of
from .urls import absolutize, canonical_url, host_of, tidy_url

# How far into the body a date line may sit, and from the end a copyright notice.
_DATE_LINE_BLOCKS = 3
_RIGHTS_BLOCKS = 2
_MIN_LEAD_CHARS = 20
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_PAGE_TIME_KEYS = ("article:published_time", "og:published_time", "datepublished", "date", "time")


def article_url(article: Article) -> str | None:
    """The article's own URL: the dump header's, else what a whole page declares."""
    meta = article.page_meta
    for candidate in (article.url, meta.get("canonical"), meta.get("og:url")):
        if candidate:
            url = tidy_url(candidate)
            if url.startswith(("http://", "https://")):
                return url
            if article.url and url.startswith("/"):
                return absolutize(url, article.url)
    return None


def extract(article: Article, site: SiteRules) -> None:
    """Fill the article's metadata from its cleaned tree (and the page's own metadata)."""
    body = article.tree
    leaves = _text_blocks(body)
    article.published = _take_date_line(article, leaves, site)
    article.rights = _take_rights(article, leaves, site)
    _pair_captions(body, site)
    article.images = _images(body)
    article.title = _title(article)
    _drop_title_heading(body, article.title)
    article.lead = _lead(body, article)
    text = text_of(body)
    article.language = detect_language(f"{article.title or ''} {text}") or _declared_language(article)
    if article.url:
        article.canonical_url = canonical_url(article.url, site.tracking_params, site.tracking_prefixes)
        domain = host_of(article.canonical_url)
        article.source = Source(name=site.name or article.page_meta.get("og:site_name") or domain, domain=domain)
    identity = article.canonical_url or f"{article.title}\n{text}"
    article.id = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    _record(article.trace, article)


def _text_blocks(body: etree._Element) -> list[etree._Element]:
    from .clean import leaf_blocks

    return [block for block in leaf_blocks(body) if block.tag != "hr"]


def _take_date_line(article: Article, leaves: list[etree._Element], site: SiteRules):
    """A leading block that is nothing but a date is the publish time; it leaves the body."""
    for block in leaves[:_DATE_LINE_BLOCKS]:
        text = text_of(block)
        if not text:
            continue
        moment = parse_date_line(text, site.date_formats, site.timezone, article.fetched)
        if moment is not None:
            _found(article.trace, "published", text, "date line at the top of the body")
            remove(block)
            leaves.remove(block)
            return moment
        if len(text) > 80:
            break
    return _page_time(article, site)


def _page_time(article: Article, site: SiteRules):
    meta = article.page_meta
    for key in _PAGE_TIME_KEYS:
        if key in meta:
            moment = parse_iso(meta[key], site.timezone)
            if moment is not None and (article.fetched is None or moment <= article.fetched):
                _found(article.trace, "published", meta[key], f"page metadata {key}")
                return moment
    for element in article.tree.iter("time"):
        moment = parse_iso(element.get("datetime") or "", site.timezone)
        if moment is not None and (article.fetched is None or moment <= article.fetched):
            _found(article.trace, "published", element.get("datetime"), "<time datetime>")
            return moment
    return None


def _take_rights(article: Article, leaves: list[etree._Element], site: SiteRules) -> str | None:
    """A copyright notice among the last blocks leaves the body for the `rights` field."""
    notices = []
    for block in reversed(leaves[-_RIGHTS_BLOCKS:]):
        text = text_of(block)
        if not text:
            continue
        if site.rights.match(text) is None:
            break
        notices.append(text)
        _found(article.trace, "rights", text, "copyright notice at the end of the body")
        remove(block)
    return " ".join(reversed(notices)) or None


def _pair_captions(body: etree._Element, site: SiteRules) -> None:
    if site.captions is None:
        return
    captions = set(site.captions(body))
    for image in list(body.iter("img")):
        if _in_figure_with_caption(image):
            continue
        unit = _image_unit(image)
        holder = _sole_holder(unit, body)
        caption = holder.getnext()
        if caption is None or (holder.tail or "").strip() or not _is_caption(caption, captions):
            continue
        figure = etree.Element("figure")
        holder.addprevious(figure)
        figcaption = etree.Element("figcaption")
        figcaption.text = text_of(caption)
        figure.append(unit)
        figure.append(figcaption)
        figure.tail = caption.tail
        caption.getparent().remove(caption)
        if holder is not unit:
            remove(holder)


def _in_figure_with_caption(image: etree._Element) -> bool:
    figure = next(image.iterancestors("figure"), None)
    return figure is not None and figure.find(".//figcaption") is not None


def _image_unit(image: etree._Element) -> etree._Element:
    """The image, or the link around it when the link holds nothing else."""
    parent = image.getparent()
    if parent is not None and parent.tag == "a" and len(parent) == 1 and not text_of(parent):
        return parent
    return image


def _sole_holder(unit: etree._Element, body: etree._Element) -> etree._Element:
    """The outermost wrapper holding nothing but `unit` (so its next sibling follows the image)."""
    holder = unit
    parent = holder.getparent()
    while parent is not None and parent is not body and len(parent) == 1 and not text_of_outside(parent, holder):
        holder = parent
        parent = holder.getparent()
    return holder


def text_of_outside(parent: etree._Element, child: etree._Element) -> bool:
    """Whether `parent` shows any text besides what `child` holds."""
    return bool((parent.text or "").strip() or (child.tail or "").strip())


def _is_caption(element: etree._Element, captions: set[etree._Element]) -> bool:
    if not text_of(element) or any(True for _ in element.iter("img")):
        return False
    if element in captions:
        return True
    return len(element) == 1 and not (element.text or "").strip() and element[0] in captions


def _images(body: etree._Element) -> list[Image]:
    images = []
    for image in body.iter("img"):
        figure = next(image.iterancestors("figure"), None)
        caption = None
        if figure is not None and next(figure.iter("img")) is image:
            figcaption = figure.find(".//figcaption")
            caption = text_of(figcaption) if figcaption is not None else None
        alt = clean_text(image.get("alt") or "") or None
        images.append(Image(url=image.get("src"), caption=caption or None, alt=alt))
    return images


def _title(article: Article) -> str | None:
    if article.title:
        return article.title
    meta = article.page_meta
    for key in ("og:title", "twitter:title", "title"):
        if meta.get(key):
            return plain_title(meta[key])
    heading = next(article.tree.iter(*_HEADINGS), None)
    return text_of(heading) or None if heading is not None else None


def _drop_title_heading(body: etree._Element, title: str | None) -> None:
    """The body's first heading goes when it only repeats the title."""
    heading = next(body.iter(*_HEADINGS), None)
    if heading is not None and title and text_of(heading) == title:
        remove(heading)


def _lead(body: etree._Element, article: Article) -> str | None:
    """The standfirst: a first paragraph set entirely in bold, else the page's description."""
    from .clean import leaf_blocks

    for block in leaf_blocks(body):
        if block.tag in ("figure", "figcaption") or block.getparent().tag == "figure":
            continue
        text = text_of(block)
        if not text:
            continue
        bold = "".join("".join(b.itertext()) for b in block.iter("strong", "b") if b.getparent().tag not in ("strong", "b"))
        if block.tag == "p" and len(text) >= _MIN_LEAD_CHARS and " ".join(bold.split()) == text:
            _found(article.trace, "lead", text, "first paragraph, all bold")
            return text
        break
    description = article.page_meta.get("og:description") or article.page_meta.get("description")
    return clean_text(description) or None if description else None


def _declared_language(article: Article) -> str | None:
    lang = article.page_meta.get("lang") or article.page_meta.get("og:locale")
    return lang.replace("_", "-") if lang else None


def _found(trace: Trace | None, key: str, value: str, source: str) -> None:
    if trace is not None:
        trace.found(key, value, source)


def _record(trace: Trace | None, article: Article) -> None:
    if trace is None:
        return
    if article.canonical_url:
        trace.found("url", article.canonical_url, "dump header, tracking parameters dropped")
    if article.source:
        trace.found("source", f"{article.source.name} ({article.source.domain})", "rules name, else page, else domain")
    if article.language:
        trace.found("language", article.language, "detected from the text")
    for image in article.images:
        trace.found("image", image.url, f"caption: {image.caption or '-'}")
