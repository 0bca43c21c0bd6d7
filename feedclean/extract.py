"""Stage 4, extract: metadata, images and captions from the cleaned tree.

What is metadata rather than text leaves the body here: the date line and
the copyright notice. Captions are paired with their images by position and
the pair is rewritten as <figure><img><figcaption>, the one shape the
renderer knows, so each caption stays with its own image.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from urllib.parse import unquote

from lxml import etree

from .article import Article, Image, Source, Trace
from .dates import isoformat, parse_date_line, parse_iso
from .lang import detect_language
from .read import clean_text, plain_title
from .rules import RuleSet
from .siterules import SiteRules
from .tree import HEADINGS, cut_from, leaf_blocks, lines_of, raw_text, remove, text_of, trim_separators
from .urls import (
    IMAGE_SCHEMES,
    LINK_SCHEMES,
    absolutize,
    canonical_url,
    host_of,
    is_allowed,
    percent_encode_unsafe,
    tidy_url,
    unwrap_proxy_url,
)

# How far into the body (or from its end) a date line may sit, and from the end a copyright notice.
_DATE_LINE_BLOCKS = 3
_DATE_LINE_END_BLOCKS = 2
_RIGHTS_BLOCKS = 2
# Text longer than this before a date line is the article itself: the search stops there.
_MAX_DATE_LINE_CHARS = 80
# Blocks that are never a date line or a copyright notice.
_NOT_TEXT_BLOCKS = frozenset(("hr", "figure", "figcaption"))
_MIN_LEAD_CHARS = 20
_PAGE_TIME_KEYS = ("article:published_time", "og:published_time", "datepublished", "date", "time")
_PAGE_URL_KEYS = ("canonical", "og:url")


def article_url(article: Article, rules: RuleSet) -> str | None:
    """The article's own URL: the dump header's, else what a whole page declares; a redirect
    wrapper around it (google.com/url?url=…) unwrapped, the wrapper kept as an alias."""
    meta = article.page_meta
    own = "feed item" if article.from_feed else "dump header"
    for source, candidate in ((own, article.url), *((f"page {key}", meta.get(key)) for key in _PAGE_URL_KEYS)):
        if not candidate:
            continue
        url = tidy_url(candidate)
        if not url.startswith(("http://", "https://")) and article.url and url.startswith("/"):
            url = absolutize(url, article.url)
        if url.startswith(("http://", "https://")):
            _found(article.trace, "url", url, source)
            return _unwrapped_article_url(article, url, rules)
    return None


def _unwrapped_article_url(article: Article, url: str, rules: RuleSet) -> str:
    unwrapped = unwrap_proxy_url(url, rules.for_host(host_of(url)).wrappers)
    if unwrapped == url or not unwrapped.startswith(("http://", "https://")):
        return url
    article.aliases.append(url)
    _found(article.trace, "url", unwrapped, f"unwrapped from the redirect {url}")
    return unwrapped


def extract(article: Article, site: SiteRules) -> None:
    """Fill the article's metadata from its cleaned tree (and the page's own metadata)."""
    body = article.tree
    _pair_captions(body, site)
    in_figures = {element for figure in body.iter("figure") for element in figure.iterdescendants()}
    leaves = [block for block in leaf_blocks(body) if block.tag not in _NOT_TEXT_BLOCKS and block not in in_figures]
    article.rights = _take_rights(article, leaves, site)
    if article.rights:
        trim_separators(body)  # the rule that set the notice apart
    if article.published is not None:
        _found(article.trace, "published", article.published, "feed item date")
    published = _take_date_line(article, leaves, site)
    article.published = article.published or published
    if article.published is None:
        where = f"the first {_DATE_LINE_BLOCKS} or last {_DATE_LINE_END_BLOCKS} blocks"
        _found(article.trace, "published", "(none)", f"no date line in {where}, no page metadata")
    article.images = _images(body, article.trace) or _feed_images(article)
    article.title = _title(article)
    _drop_title_heading(body, article.title)
    article.lead = _lead(leaves, article)
    text = text_of(body)
    if not text and not article.images:
        article.warnings.append("nothing is left of the body after cleaning (did it hold only junk?)")
    article.language = _language(article, text)
    _add_feed_media(article)
    if article.url:
        article.canonical_url = canonical_url(article.url, site.tracking)
        if article.canonical_url != article.url:
            _found(article.trace, "url", article.canonical_url, "canonical form: tracking parameters and fragment dropped")
        article.source = _source(article, site)
        _warn_if_opaque_redirect(article, site)
    identity = article.canonical_url or f"{article.title}\n{text}"
    article.id = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    if article.fetched is not None:
        _found(article.trace, "fetched", article.fetched, "dump header <!--…--> comment")


def _take_date_line(article: Article, leaves: list[etree._Element], site: SiteRules) -> datetime | None:
    """A block at the top (or the very end) that is nothing but a date is the publish time; it leaves the body.

    A heading is never a date line (a timeline's "1989年4月15日" is content).
    A date line that reads as later than the fetch time leaves `published`
    empty and stays in the text, with a warning.
    """
    tried: set[etree._Element] = set()
    for candidates in (leaves[:_DATE_LINE_BLOCKS], leaves[-_DATE_LINE_END_BLOCKS:][::-1]):
        for block in candidates:
            if block in tried:
                break
            tried.add(block)
            text = text_of(block) if block.tag not in HEADINGS else ""
            if not text:
                continue
            reading = parse_date_line(text, site.date_formats, site.timezone, article.fetched)
            if reading is None:
                if len(text) > _MAX_DATE_LINE_CHARS:
                    break
                continue
            moment, how = reading
            if article.fetched is not None and moment > article.fetched:
                late = isoformat(moment)
                article.warnings.append(f"the date line {text!r} reads as {late}, after the fetch time; published left empty")
                return None
            if article.trace is not None:
                _found(article.trace, "published", moment, f"date line {text!r} read as {how}, zone {_zone_name(moment)}")
            remove(block)
            leaves.remove(block)
            return moment
    return _page_time(article, site)


def _zone_name(moment: datetime) -> str:
    return getattr(moment.tzinfo, "key", None) or moment.tzname() or "UTC"


def _page_time(article: Article, site: SiteRules) -> datetime | None:
    candidates = [(article.page_meta.get(key), f"page metadata {key}") for key in _PAGE_TIME_KEYS]
    candidates += [(element.get("datetime"), "<time datetime>") for element in article.tree.iter("time")]
    for value, source in candidates:
        moment = parse_iso(value or "", site.timezone)
        if moment is not None and (article.fetched is None or moment <= article.fetched):
            _found(article.trace, "published", moment, source)
            return moment
    return None


def _take_rights(article: Article, leaves: list[etree._Element], site: SiteRules) -> str | None:
    """A copyright notice among the last blocks leaves the body for the `rights` field."""
    notices = []
    for block in reversed(leaves[-_RIGHTS_BLOCKS:]):
        text = text_of(block)
        if not text:
            continue
        notice, hit, start = _notice_in(block, text, site)
        if hit is None:
            break
        notices.append(notice)
        _found(article.trace, "rights", notice, site.describe("rights", hit[0]))
        if start is None:
            remove(block)
            leaves.remove(block)
        else:  # the lines before the notice (a sign-off) stay; the footer from the notice on goes
            cut_from(start, block)
            break
    return " ".join(reversed(notices)) or None


def _notice_in(block: etree._Element, text: str, site: SiteRules) -> tuple[str, tuple[str, str] | None, etree._Element | None]:
    """The copyright notice a block is, or holds on one of its lines, and the <br> that line
    starts after (None for the first line). A feed's footer puts "© Author for Site, 2015. |
    Permalink | Comments" and a tags line in one <p>: only the notice (up to a " | ") is
    `rights`, and the footer from it on goes; a sign-off on the lines before it stays."""
    hit = site.rights.match(text)
    if hit is None:
        return text, None, None
    for line, start in lines_of(block):
        notice = line.split(" | ", 1)[0].strip()
        line_hit = hit if notice == text else site.rights.match(notice)  # a one-line notice: matched already
        if line_hit is not None:
            return notice, line_hit, start
    return text, hit, None


def _pair_captions(body: etree._Element, site: SiteRules) -> None:
    images = list(body.iter("img"))
    if not images:
        return
    complex_matches = site.captions.complex_matches(body)
    for image in images:
        if _in_figure_with_caption(image):
            continue
        unit = _image_unit(image)
        holder = _trailing_holder(unit, body)
        caption = holder.getnext()
        if caption is None or (holder.tail or "").strip():
            continue
        text = _caption_text(caption, site, complex_matches)
        if not text:
            continue
        if holder.tag == "tr":  # a table of two rows, the image and its caption (Blogger's)
            holder, caption = _caption_table(holder, caption)
            if holder is None:
                continue
        figure = body.makeelement("figure")  # made in the body's document, not a new one of its own
        caption.addprevious(figure)
        unit.tail = None
        figure.append(unit)
        etree.SubElement(figure, "figcaption").text = text
        figure.tail = caption.tail
        caption.getparent().remove(caption)
        if holder is not unit and not text_of(holder) and next(holder.iter("img"), None) is None:
            remove(holder)


def _in_figure_with_caption(image: etree._Element) -> bool:
    figure = next(image.iterancestors("figure"), None)
    return figure is not None and next(figure.iterdescendants("figcaption"), None) is not None


def _image_unit(image: etree._Element) -> etree._Element:
    """The image, or the link around it when the link holds nothing else."""
    parent = image.getparent()
    if parent is not None and parent.tag == "a" and len(parent) == 1 and not text_of(parent):
        return parent
    return image


def _trailing_holder(unit: etree._Element, body: etree._Element) -> etree._Element:
    """The outermost wrapper that `unit` ends (nothing after it), so its next sibling follows the image."""
    holder = unit
    parent = holder.getparent()
    while parent is not None and parent is not body and parent[-1] is holder and not (holder.tail or "").strip():
        holder = parent
        parent = holder.getparent()
    return holder


def _caption_table(image_row: etree._Element, caption_row: etree._Element) -> tuple[etree._Element | None, etree._Element]:
    """For an image row and a caption row that are a whole table: the table's parts to turn
    into a figure (the table goes; its caption text stays in the figure)."""
    table = next(image_row.iterancestors("table"), None)
    if table is None or len(table.findall(".//tr")) != 2:
        return None, caption_row
    figure_place = table.makeelement("div")
    table.addprevious(figure_place)
    figure_place.tail = table.tail
    figure_place.append(_image_unit(next(image_row.iter("img"))))
    figure_place.append(caption_row)
    table.getparent().remove(table)
    return figure_place[0], caption_row


def _caption_text(element: etree._Element, site: SiteRules, complex_matches: set[etree._Element]) -> str:
    """The text of an element right after an image when it is the image's caption, else "" (the
    text is read once, for the test and the figcaption). It is one if it (or its only child) is
    by the rules, or its text starts the way captions do ("▲ …", "Photo: …", "图片来自 …"): the
    rules are asked first, since matching the text against every caption pattern costs more."""
    text = text_of(element)
    if not text or next(element.iter("img"), None) is not None:
        return ""
    captions = site.captions
    if captions.matches(element, complex_matches):
        return text
    if len(element) == 1 and not (element.text or "").strip() and captions.matches(element[0], complex_matches):
        return text
    return text if site.caption_text.is_caption(text) else ""


def _images(body: etree._Element, trace: Trace | None) -> list[Image]:
    images = []
    for image in body.iter("img"):
        figure = next(image.iterancestors("figure"), None)
        caption = None
        if figure is not None and next(figure.iter("img")) is image:
            figcaption = next(figure.iterdescendants("figcaption"), None)
            caption = text_of(figcaption) if figcaption is not None else None
        alt = clean_text(image.get("alt") or "") or None
        images.append(Image(url=image.get("src"), caption=caption or None, alt=alt))
        if trace is not None:
            _found(trace, "image", image.get("src"), f"caption: {caption!r}" if caption else "no caption")
    return images


def _feed_images(article: Article) -> list[Image]:
    """A feed item whose text shows no picture keeps the ones its feed names (media:content):
    they are listed among the images, not put into the text."""
    images = []
    for image in article.feed_images:
        url = percent_encode_unsafe(tidy_url(image.url), tidied=True)
        if is_allowed(url, IMAGE_SCHEMES):
            images.append(Image(url=url, caption=clean_text(image.caption or "") or None, alt=None))
            _found(article.trace, "image", url, "the feed's media:content")
    return images


def _add_feed_media(article: Article) -> None:
    """A podcast's episode is its enclosure: each audio or video enclosure the text does not
    link to already becomes a last paragraph, "Audio: <a>file</a>", so the episode is not lost."""
    if not article.feed_media:
        return
    linked = {link.get("href") for link in article.tree.iter("a")}
    for raw, kind in article.feed_media:
        url = percent_encode_unsafe(tidy_url(raw), tidied=True)
        if url in linked or not is_allowed(url, LINK_SCHEMES):
            continue
        paragraph = etree.SubElement(article.tree, "p")
        paragraph.text = "Audio: " if kind.startswith("audio/") else "Video: "
        link = etree.SubElement(paragraph, "a", href=url)
        link.text = unquote(url.partition("?")[0].rstrip("/").rpartition("/")[2]) or url
        _found(article.trace, "media", url, f"the feed's enclosure ({kind})")


def _title(article: Article) -> str | None:
    if article.title:
        _found(article.trace, "title", article.title, "feed item" if article.from_feed else "dump header")
        return article.title
    meta = article.page_meta
    for key in ("og:title", "twitter:title", "title"):
        if meta.get(key):
            title = plain_title(meta[key])
            _found(article.trace, "title", title, f"page metadata {key}")
            return title
    heading = next(article.tree.iter(*HEADINGS), None)
    title = text_of(heading) if heading is not None else ""
    if title:
        _found(article.trace, "title", title, f"first heading <{heading.tag}>")
    return title or None


def _drop_title_heading(body: etree._Element, title: str | None) -> None:
    """The body's first heading goes when it only repeats the title."""
    heading = next(body.iter(*HEADINGS), None)
    if heading is not None and title and text_of(heading) == title:
        remove(heading)


def _lead(leaves: list[etree._Element], article: Article) -> str | None:
    """The standfirst: a first paragraph set entirely in bold, else the page's description."""
    for block in leaves:
        if block.getparent() is None:  # the title heading, dropped since the leaves were listed
            continue
        text = text_of(block)
        if not text:
            continue
        if block.tag == "p" and len(text) >= _MIN_LEAD_CHARS and _bold_text(block) == text:
            _found(article.trace, "lead", text, "first paragraph, all bold")
            return text
        break
    for key in ("og:description", "description"):
        description = clean_text(article.page_meta.get(key, ""))
        if description:
            _found(article.trace, "lead", description, f"page metadata {key}")
            return description
    return None


def _bold_text(block: etree._Element) -> str:
    """The text set in bold in `block`, whitespace collapsed: read only for a paragraph that
    could be the lead, since most blocks fail the cheaper tests first."""
    return " ".join("".join(raw_text(b) for b in block.iter("strong", "b") if b.getparent().tag not in ("strong", "b")).split())


def _language(article: Article, text: str) -> str | None:
    """The text's language as detected, unless a feed declares another: a feed's language holds
    for all its items, and a one-sentence teaser in Slovak can read as Polish. A declaration
    the detection refines (zh, read as zh-Hant) gives way to the detection."""
    detected = detect_language(f"{article.title or ''} {text}")
    declared = (article.page_meta.get("lang") or article.page_meta.get("og:locale") or "").replace("_", "-")
    if declared and article.from_feed and (not detected or _primary(detected) != _primary(declared)):
        _found(article.trace, "language", declared, "declared by the feed")
        return declared
    if detected:
        _found(article.trace, "language", detected, "detected from the text")
        return detected
    if declared:
        _found(article.trace, "language", declared, "declared by the page")
        return declared
    return None


def _primary(tag: str) -> str:
    return tag.partition("-")[0].lower()


def _source(article: Article, site: SiteRules) -> Source:
    domain = host_of(article.canonical_url or "")
    if site.name:
        name, how = site.name, site.describe("name", site.name)
    elif article.page_meta.get("og:site_name") and _names_this_site(article, domain):
        name = article.page_meta["og:site_name"]
        how = "the feed's title" if article.from_feed else "page metadata og:site_name"
    else:
        name, how = domain, "the domain (no rule names this publisher)"
    _found(article.trace, "source", f"{name} ({domain})", how)
    return Source(name=name, domain=domain)


def _warn_if_opaque_redirect(article: Article, site: SiteRules) -> None:
    """A feed proxy's redirect (feedproxy's /~r/, feedpress's /link/) names no article: only
    a request learns where it goes, and feedclean makes none. The URL stays (it still leads
    there), the proxy is not taken for the publisher, and the user learns where the real one is."""
    if site.opaque_redirects.match(article.canonical_url) is None:
        return
    article.source = None
    _found(article.trace, "source", "(none)", f"{article.canonical_url} is a feed proxy's redirect")
    instead = "its feed gives no origLink" if article.from_feed else "its feed file may name the article (an origLink)"
    article.warnings.append(
        f"its URL {article.canonical_url} is a feed proxy's redirect, which only a request could follow; {instead}"
    )


def _names_this_site(article: Article, domain: str) -> bool:
    """A feed's title names the item's site only when the feed is that site's: an alerts or
    link-blog feed's items are on other sites ("Google Alert - Slack" is not investorplace.com)."""
    feed_host = host_of(article.page_meta.get("feed:link", ""))
    if not article.from_feed or not feed_host:
        return True
    return feed_host == domain or feed_host.endswith("." + domain) or domain.endswith("." + feed_host)


def _found(trace: Trace | None, key: str, value: str | datetime, source: str) -> None:
    if trace is not None:
        trace.found(key, isoformat(value) if isinstance(value, datetime) else value, source)
