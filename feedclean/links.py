"""Part of stage 3, clean: every link and image URL made final, and what the rules point at found.

One pass over the elements that can matter (those with attributes or custom
tag names) makes each `href` and `src` absolute, unwrapped and safe, drops
tracking parameters and trackers, and collects the share, feed-service and
proxy-footer links, the strip-selected elements and the marked widgets for
the removals that follow.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from lxml import etree

from .article import Article, Trace
from .lang import detect_language
from .siterules import SiteRules
from .tree import note, remove, replace_with_text, text_of
from .urls import (
    IMAGE_SCHEMES,
    LINK_SCHEMES,
    absolutize,
    drop_tracking,
    is_allowed,
    percent_encode_unsafe,
    proxy_host_of,
    tidy_url,
    unwrap_proxy_url,
    url_host,
    url_scheme,
)

# Attributes that lazy-loading pages use for the real image, best first.
_LAZY_SOURCES = ("data-src", "data-original", "data-lazy-src", "data-url")
_SRCSETS = ("data-srcset", "srcset")
_REPLACED_BY_SRC = frozenset(("sizes", *_LAZY_SOURCES, *_SRCSETS))
_HIDDEN = frozenset((("display", "none"), ("visibility", "hidden")))
# A first path segment that names a language (zh, en, pt-br), as publishers' URLs do.
_LANGUAGE_SEGMENT = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*", re.IGNORECASE)
# An emoji's alt text: symbols (So, Sk), with the joiners, selectors and skin tones that combine them.
_EMOJI_CATEGORIES = frozenset(("So", "Sk", "Mn", "Cf"))
_EMOJI_MAX_CHARS = 8
# An empty link to a picture (a lightbox link whose thumbnail a feed dropped) shows that picture.
# Words an icon's file name may hold beside the network it stands for.
_ICON_WORDS = frozenset(
    ("icon", "icons", "share", "button", "btn", "logo", "small", "large", "sm", "lg", "mini", "color", "white", "black")
)
# What separates the words of a file's name.
_FILE_NAME_WORDS = re.compile(r"[-_.\s]+")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")
# Photographs' formats: a tracker is a GIF, a PNG or a script, never one of these.
_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".webp", ".avif", ".heic")
# The tracker word an RSS icon's name holds too: with a word of its own beside it, not a tracker's sign.
_FEED_ICON_WORD = "rss"
# The fields a rewrite_links replacement names a match's groups by (g0 the whole match; a
# replacement's \1 … \9 name one digit), made once.
_GROUP_FIELDS = tuple(f"g{number}" for number in range(10))


# A found link and the rule that found it, as (key, item): described only when explaining.
FoundLink = tuple[etree._Element, tuple[str, str]]


class Found:
    """What one pass over the tree found to act on once the pass is over."""

    __slots__ = ("feed", "footer", "icons", "marked", "scripted", "share", "stripped")

    def __init__(self) -> None:
        self.share: list[FoundLink] = []
        self.icons: list[FoundLink] = []
        self.feed: list[FoundLink] = []
        self.footer: list[FoundLink] = []
        self.stripped: list[etree._Element] = []
        self.marked: list[etree._Element] = []
        self.scripted: list[etree._Element] = []


def scan(article: Article, site: SiteRules) -> Found:
    """Make image and link URLs final, and collect what the rules point at.

    Only elements with attributes or custom tag names can be links, widgets
    or class-selected: the many bare <p>, <strong> and <em> cost one test
    each (cheaper than an XPath predicate, which libxml2 evaluates per node).
    """
    body, base, trace = article.tree, article.base or article.url, article.trace
    found = Found()
    for image in list(body.iter("img")):
        # Read once: the checks below look at up to ten attributes, and each get() encodes its name for libxml2.
        attributes = dict(image.items())
        alt = attributes.get("alt") or ""
        if _is_emoji(alt):
            replace_with_text(image, alt)
        else:
            _fix_image(image, attributes, base, site, trace)
    placeholders = _Placeholders(article)
    strip = site.strip
    if strip.tags:
        found.stripped.extend(body.iter(*strip.tags))
    found.stripped.extend(strip.complex_elements(body))
    markers = site.widget_markers
    attributed_or_custom = [element for element in body.iterdescendants(etree.Element) if element.attrib or "-" in element.tag]
    for element in attributed_or_custom:  # listed first: a link to a picture is replaced by the <img>
        tag = element.tag
        if tag == "a":
            _fix_link(element, base, site, placeholders, trace, found)
        if strip.matches_class(element):
            found.stripped.append(element)
        elif markers and tag != "img" and _is_marked(element, tag, markers):
            found.marked.append(element)
    found.share.extend(_icon_rows(found.icons, found.share))
    return found


def _icon_rows(icons: list[FoundLink], share: list[FoundLink]) -> list[FoundLink]:
    """The network icons that sit in a share row: two or more links in one parent (share
    endpoints found by address count among them) whose targets look like sharing. A lone logo,
    or a row of logos linking to the networks' own pages, is the article's picture of them."""
    if not icons:
        return []
    rows: dict[etree._Element, list[FoundLink]] = {}
    for icon in icons:
        rows.setdefault(icon[0].getparent(), []).append(icon)
    endpoints = Counter(link.getparent() for link, _ in share)
    return [icon for parent, row in rows.items() if _is_share_row([link for link, _ in row], endpoints[parent]) for icon in row]


def _is_share_row(links: list[etree._Element], endpoints: int) -> bool:
    """Whether icon links (beside `endpoints` share endpoints) share the article: each is a
    mail to send it (`mailto:` with a subject or body), or all the others go through one
    address that only their queries tell apart, a redirector with a parameter per network
    (`click.php?h=abc&s=fb`, `…&s=tw`). Links to different pages, profiles or files (a row of
    the networks' press pages, a report's CSV and PDF) are what the article links to."""
    if len(links) + endpoints < 2:
        return False
    hrefs = [link.get("href") or "" for link in links]
    targets = [href for href in hrefs if not _is_mail_to_send(href)]
    if not targets:
        return True
    addresses = {target.partition("#")[0].partition("?")[0] for target in targets}
    queries = {target.partition("#")[0].partition("?")[2] for target in targets}
    return len(targets) >= 2 and len(addresses) == 1 and len(queries) == len(targets) and "" not in queries


def _is_mail_to_send(href: str) -> bool:
    """A `mailto:` link that fills in a subject or a body: a mail to send the article to
    someone. A bare address is a person to write to."""
    return href.lower().startswith("mailto:") and "?" in href


def _is_marked(element: etree._Element, tag: str, markers: frozenset[str]) -> bool:
    """Whether a custom tag or a data-* attribute name carries a widget marker as a token."""
    if "-" in tag and not markers.isdisjoint(tag.split("-")):
        return True
    names = element.keys()
    # One search over all the names passes over the usual element, which has no data-* attribute.
    return "data-" in " ".join(names) and any(
        name.startswith("data-") and not markers.isdisjoint(name.replace("_", "-").split("-")) for name in names
    )


def _fix_link(
    element: etree._Element, base: str | None, site: SiteRules, placeholders: _Placeholders, trace: Trace | None, found: Found
) -> None:
    href = element.get("href")
    if href is None:
        return
    # An empty href points nowhere (an editor's leftover), not at the page it sits on.
    tidied = tidy_url(href)
    url = tidied and _final_url(tidied, base, site, placeholders, trace)
    url = percent_encode_unsafe(url, tidied=url == tidied)
    host = url_host(url)
    pattern = site.junk_links.match(url, host)
    if pattern is not None:
        key = site.junk_link_keys[pattern]
        (found.share if key == "share_links" else found.feed).append((element, (key, pattern)))
    elif not url or url.startswith("#") or not is_allowed(url, LINK_SCHEMES):
        del element.attrib["href"]
        if url_scheme(url) == "javascript":
            found.scripted.append(element)
        if trace is not None and url and not url.startswith("#"):
            trace.remove("link target (text kept)", f"<a> {href[:80]}", f"unsafe URL scheme {url_scheme(url)!r}")
        return
    elif (bare_host := host.removeprefix("www.")) in site.footer_hosts:
        found.footer.append((element, ("footer_links", bare_host)))
    elif (network := _share_icon(element, site)) is not None:
        found.icons.append((element, ("share_icons", network)))
    if url != href:  # re-setting an unchanged value would only encode and copy it again
        element.set("href", url)
    if not len(element) and not (element.text or "").strip() and _is_picture(url, host, site):
        picture = etree.Element("img", src=url)
        picture.tail = element.tail
        element.getparent().replace(element, picture)


def _final_url(url: str, base: str | None, site: SiteRules, placeholders: _Placeholders, trace: Trace | None) -> str:
    """The link made absolute, unwrapped, and rewritten by each rewrite_links rule that matches, in turn."""
    url = drop_tracking(_unwrapped(absolutize(url, base), "href", site, trace), site.tracking)
    for rewrite in site.rewrites:
        match = rewrite.pattern.search(url)
        if match is None:
            continue
        placeholders.update(zip(_GROUP_FIELDS, (match.group(0), *match.groups("")), strict=False))
        try:
            replacement = rewrite.replace.format_map(placeholders)
        except KeyError as missing:
            note(trace, "rewrite skipped", url, f"{site.describe('rewrite_links', rewrite.pattern.pattern)}: no {missing}")
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
    unwrapped = unwrap_proxy_url(url, site.wrappers)
    if unwrapped != url and trace is not None:
        entry = site.wrappers.entry_for(url)
        trace.rewrite(attribute, url, unwrapped, site.describe("unwrap", entry[0] if entry else proxy_host_of(url)))
    return unwrapped


def _is_picture(url: str, host: str, site: SiteRules) -> bool:
    path = url.partition("?")[0].partition("#")[0].lower()
    return path.endswith(_IMAGE_SUFFIXES) and is_allowed(url, IMAGE_SCHEMES) and site.trackers.match(url, host) is None


def _is_emoji(alt: str) -> bool:
    """An image standing for an emoji (WordPress and Twitter draw them as images): its alt text
    is one symbol, which the text keeps instead of a picture listed among the article's images."""
    return 0 < len(alt) <= _EMOJI_MAX_CHARS and all(unicodedata.category(char) in _EMOJI_CATEGORIES for char in alt)


def _fix_image(image: etree._Element, attributes: dict[str, str], base: str | None, site: SiteRules, trace: Trace | None) -> None:
    """Give the image one final, safe `src`, or remove it if it is a tracker or has none."""
    chosen, attribute = _image_source(attributes)
    url = ""
    if chosen:
        tidied = tidy_url(chosen)
        url = _unwrapped(absolutize(tidied, base), attribute, site, trace)
        url = percent_encode_unsafe(url, tidied=url == tidied)
    reason = None
    if not url or not is_allowed(url, IMAGE_SCHEMES):
        reason = "image without a usable source"
    elif _is_pixel(attributes):
        reason = "tracking pixel (1×1 or hidden)"
    elif (pattern := site.trackers.match(url)) is not None:
        reason = site.describe("trackers", pattern)
    elif (word := _tracker_file_word(attributes, url, site)) is not None:
        reason = site.describe("tracker_file_words", word)
    if reason:
        note(trace, "image", image if chosen is None else f"<img> {chosen[:80]}", reason)
        remove(image)
        return
    for name in _REPLACED_BY_SRC.intersection(attributes):
        del image.attrib[name]
    if url != attributes.get("src"):  # re-setting an unchanged value would only encode and copy it again
        image.set("src", url)


def _image_source(attributes: dict[str, str]) -> tuple[str | None, str]:
    """The attribute holding the real image: a lazy-loading one (the `src` is then a
    placeholder), else `src`, else the largest candidate of a srcset."""
    for name in _LAZY_SOURCES:
        value = (attributes.get(name) or "").strip()
        if value and not value.lower().startswith("data:"):
            return value, name
    src = (attributes.get("src") or "").strip()
    if src and not src.lower().startswith("data:"):
        return src, "src"
    for name in _SRCSETS:
        value = (attributes.get(name) or "").strip()
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


def _share_icon(link: etree._Element, site: SiteRules) -> str | None:
    """The network a link's only picture is the icon of (`facebook.gif`, `twitter-16.png`): in a
    row of such links, a share button, whatever redirector it goes through. None for a link
    with words, or a picture whose name says more than a network and an icon's size."""
    icons = site.share_icons
    if not icons or len(link) != 1 or link[0].tag != "img" or (link.text or "").strip() or (link[0].tail or "").strip():
        return None
    name = (link[0].get("src") or "").partition("?")[0].rpartition("/")[2].rpartition(".")[0].lower()
    parts = [part for part in _FILE_NAME_WORDS.split(name) if part and not part.isdigit()]
    networks = [part for part in parts if part in icons]
    if not networks or not all(part in icons or part in _ICON_WORDS for part in parts):
        return None
    return networks[0]


def _tracker_file_word(attributes: dict[str, str], url: str, site: SiteRules) -> str | None:
    """A tracker known by its file's name alone (`spacer.gif`, `rss-pixel.png`, `npr-rss-pixel.png?story=1`),
    on any host: the word that says so, or None.

    Names are weak evidence, so all of these must hold. Trackers are GIFs, PNGs or scripts, never a
    photo format: `counter.jpg` is a kitchen's. Any alt text is someone describing a picture. Every
    word of the name is a tracker's, or the URL carries a per-request id (a query) and at most one
    word is not (the site's prefix); then a word other than `rss` must say tracker, since an RSS
    icon's name (`rss-feed.png`) says nothing else. The folder says nothing: `reviews/pixel/` holds
    phone photos.
    """
    path, _, query = url.partition("#")[0].partition("?")
    name = path.lower().rpartition("/")[2]
    if site.tracker_file_pattern.search(name) is None or name.endswith(_PHOTO_SUFFIXES) or (attributes.get("alt") or "").strip():
        return None
    words = site.tracker_file_words
    parts = [part for part in _FILE_NAME_WORDS.split(name.rpartition(".")[0] or name) if part]
    said = [part for part in parts if part in words]
    if said and len(said) == len(parts):
        return said[0]
    telling = [part for part in said if part != _FEED_ICON_WORD]
    return telling[0] if query and telling and len(parts) - len(said) <= 1 else None


def _is_pixel(attributes: dict[str, str]) -> bool:
    """A 1×1 (or 0×0) image, sized by attributes or by CSS, or a hidden one: a tracker."""
    for name in ("width", "height"):
        if _is_tiny_length(attributes.get(name)):
            return True
    style = attributes.get("style")
    if not style:
        return False
    for declaration in style.lower().split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip(), "".join(value.split())
        if (name in ("width", "height", "max-width", "max-height") and _is_tiny_length(value)) or (name, value) in _HIDDEN:
            return True
    return False


def _is_tiny_length(value: str | None) -> bool:
    if not value:
        return False
    number = value.strip().lower().removesuffix("!important").strip().removesuffix("px").strip()
    return _is_number(number) and number.lstrip("0") in ("", "1")


def _is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" and "١", which int() and float() refuse or misread."""
    return text.isascii() and text.isdigit()


def _first_path_segment(url: str | None) -> str:
    if not url:
        return ""
    path = url.split("://", 1)[-1].partition("/")[2]
    return path.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
