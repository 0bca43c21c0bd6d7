"""Whole feed files (RSS 2.0, RSS 1.0/RDF, Atom) as inputs: one article per item.

Some scrapers save the feed itself rather than one dump per item. feedparser
(well kept, and tolerant of the broken XML feeds are full of) reads them;
its own sanitiser is off because the cleaning stage does that job for every
input alike. Imported only when an input looks like a feed.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from lxml import etree

from .article import Article, Image, InputError
from .read import plain_title
from .tree import xml_safe

_FEED_ROOTS = frozenset(("rss", "RDF", "feed"))
_CHARACTER_REFERENCE = re.compile(r"&#([0-9]+|[xX][0-9a-fA-F]+);")
_SNIFF_CHARS = 4096
_MAX_NAME_CHARS = 40
# Reads only the opening of a document to name its root; never loads a DTD or an entity.
_XML_PARSER = etree.XMLParser(encoding="utf-8", recover=True, resolve_entities=False, no_network=True, load_dtd=False)


def looks_like_feed(text: str) -> bool:
    """Whether the text is an RSS or Atom document: its root element, read by an XML parser, says so.

    The root's name is peeked at first, past the prolog (declaration, comments,
    doctype), so a dump (which starts with a comment too) costs no XML parse.
    """
    start = _after_prolog(text)
    name_end = start + 1
    while name_end < len(text) and name_end - start < _MAX_NAME_CHARS and (text[name_end].isalnum() or text[name_end] in "_:.-"):
        name_end += 1
    if not text.startswith("<", start) or text[start + 1 : name_end].rpartition(":")[2] not in _FEED_ROOTS:
        return False
    head = text[start : start + _SNIFF_CHARS].encode("utf-8", "replace")
    try:
        root = etree.fromstring(head, _XML_PARSER)
    except etree.XMLSyntaxError:
        return False
    return root is not None and isinstance(root.tag, str) and root.tag.rpartition("}")[2].rpartition(":")[2] in _FEED_ROOTS


def _after_prolog(text: str) -> int:
    """Where the first element starts: past whitespace, `<?…?>`, comments and `<!DOCTYPE …>`
    (an internal subset in brackets included), however long (a licence in a comment)."""
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if text.startswith("<?", position):
            end, closer = text.find("?>", position), "?>"
        elif text.startswith("<!--", position):
            end, closer = text.find("-->", position + 4), "-->"
        elif text.startswith("<!", position):
            end, closer = text.find(">", position), ">"
            bracket = text.find("[", position, end) if end != -1 else -1
            if bracket != -1:
                close = text.find("]", bracket)
                end = text.find(">", close) if close != -1 else -1
        else:
            return position
        if end == -1:
            return position
        position = end + len(closer)


# MIME types of an enclosure that is played, not looked at: a podcast's episode.
_PLAYED = ("audio/", "video/")
# Local names of the elements some feeds keep an item's full text in.
_FULL_TEXT_NAMES = frozenset(("full-text", "fulltext"))
# Markup that only HTML holds: a full text with one of these is HTML, else plain text.
_HTML_BLOCK_MARKERS = ("</p>", "<br", "</div>")


def read_feed(text: str, name: str, encoding: str) -> list[Article]:
    """One Article per feed item, with title, link, dates and the fullest content the item has."""
    import feedparser

    # A stream, never a str or bytes: feedparser takes either for a URL or a file name to open
    # ("<rss>/../private.xml" would read a file beside the working directory).
    try:
        parsed = feedparser.parse(
            io.BytesIO(_CHARACTER_REFERENCE.sub(_valid_reference, text).encode("utf-8")),
            response_headers={"content-type": "application/xml; charset=utf-8"},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (ValueError, OverflowError, LookupError, UnicodeError) as error:
        raise InputError(f"cannot read the feed: {error}") from None
    if not parsed.entries:
        raise InputError("feed file with no items")
    channel = {
        key: value.strip()
        for key, value in (
            ("og:site_name", parsed.feed.get("title", "")),
            ("lang", parsed.feed.get("language", "")),
            ("feed:link", _feed_home(parsed.feed)),
        )
        if value and value.strip()
    }
    articles = []
    rss = parsed.get("version", "").startswith("rss")
    for number, entry in enumerate(parsed.entries, 1):
        body, base = _content(entry, rss)
        url = _entry_link(entry)
        title = plain_title(entry.get("title", "")) or None
        if not body.strip() and not (url and title):
            continue
        # feedparser decodes &#27; into the body: drop what a tree may not hold, as a dump's reading does.
        article = Article(name=f"{name} (item {number})", html=xml_safe(body), encoding=encoding)
        article.title = title
        article.url = url
        article.aliases = [link for link in (entry.get("link"),) if link and link.strip() != article.url]
        article.base = base if base.startswith(("http://", "https://")) else None
        article.published = _entry_time(entry)
        article.page_meta = dict(channel)
        article.from_feed = True
        article.feed_images = _media_images(entry, _media_caption(entry, rss))
        article.feed_media = _enclosed_media(entry)
        if not body.strip():
            article.warnings.append("the feed gives this item no text: its title and link only")
        articles.append(article)
    if not articles:
        raise InputError("feed file whose items have no content")
    return articles


def _feed_home(feed) -> str:
    """The address of the site a feed is from: its alternate link, else its own (self) address."""
    links = feed.get("links", [])
    for rel in ("alternate", "self"):
        for link in links:
            href = (link.get("href") or "").strip()
            if link.get("rel") == rel and href.startswith(("http://", "https://")):
                return href
    return ""


def _media_images(entry, caption: str | None) -> list[Image]:
    """The item's pictures the feed names beside its text (media:content, media:thumbnail, an
    image enclosure), for an item whose text has none: the lead photo of a teaser."""
    found: list[str] = []
    candidates = [*entry.get("media_content", []), *entry.get("media_thumbnail", [])]
    candidates += [link for link in entry.get("links", []) if link.get("rel") == "enclosure"]
    for media in candidates:
        url = (media.get("url") or media.get("href") or "").strip()
        kind = (media.get("type") or "").lower()
        is_picture = media.get("medium") == "image" or kind.startswith("image/") or (not kind and "medium" not in media)
        if url.startswith(("http://", "https://")) and is_picture and url not in found:
            found.append(url)
    return [Image(url=url, caption=caption if index == 0 else None, alt=None) for index, url in enumerate(found)]


def _enclosed_media(entry) -> list[tuple[str, str]]:
    """The item's audio and video enclosures (a podcast's episode): (url, MIME type)."""
    found: list[tuple[str, str]] = []
    for link in entry.get("links", []):
        url = (link.get("href") or "").strip()
        kind = (link.get("type") or "").lower().strip()
        played = link.get("rel") == "enclosure" and kind.startswith(_PLAYED)
        if played and url.startswith(("http://", "https://")) and url not in (known for known, _ in found):
            found.append((url, kind))
    return found


def _media_caption(entry, rss: bool) -> str | None:
    """In RSS, a plain-text "content" is a second description: media:description, the photo's caption."""
    if not rss:
        return None
    for content in entry.get("content", []):
        if content.get("type") == "text/plain" and (content.get("value") or "").strip():
            return " ".join(content["value"].split())
    return None


def _entry_link(entry) -> str | None:
    """The item's own address: an origLink (FeedBurner's, Pheedo's: the publisher's URL) over
    the redirect such a service puts in <link>."""
    origins = sorted(key for key in entry if key.endswith("_origlink") and key != "feedburner_origlink")
    for key in ("feedburner_origlink", *origins, "link"):
        link = entry.get(key)
        if isinstance(link, str) and link.strip():
            return link.strip()
    return None


def _content(entry, rss: bool) -> tuple[str, str]:
    """Full content over a summary (plain text escaped into paragraphs), and the base URL
    (xml:base) its relative links are relative to.

    In RSS the full content is HTML (content:encoded); a plain-text "content" there is a
    second description that feedparser files as content, most often media:description, a
    photo's caption, which must not replace the item's own description.
    """
    candidates = [
        (c.get("value", ""), c.get("type", ""), c.get("base") or "")
        for c in entry.get("content", [])
        if not (rss and c.get("type") == "text/plain")
    ]
    candidates += [(value, _full_text_type(value), "") for value in _full_texts(entry)]
    candidates.sort(key=lambda item: len(item[0]), reverse=True)
    summary = entry.get("summary_detail") or {}
    candidates.append((entry.get("summary", ""), summary.get("type", "text/html"), summary.get("base") or ""))
    for value, kind, base in candidates:
        if value and value.strip():
            if kind == "text/plain":
                return "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in value.split("\n\n")), base
            return value, base
    return "", ""


def _full_texts(entry) -> list[str]:
    """The full text some feeds give beside a one-line description, in an element of their own
    (Yandex's <yandex:full-text>, a publisher's <x:fulltext>)."""
    return [
        value
        for key in sorted(entry)
        if key.rpartition("_")[2] in _FULL_TEXT_NAMES and isinstance(value := entry[key], str) and value.strip()
    ]


def _full_text_type(value: str) -> str:
    """A full-text element holds plain text (Yandex's: no markup, so a `<title>` in it is words
    about HTML), unless it clearly holds HTML's paragraphs or line breaks, as some feeds put there."""
    lowered = value.lower()
    return "text/html" if any(marker in lowered for marker in _HTML_BLOCK_MARKERS) else "text/plain"


def _valid_reference(match: re.Match[str]) -> str:
    """A numeric character reference, or U+FFFD for one that names no character (a surrogate,
    beyond Unicode): feedparser's loose parser fails on the whole feed otherwise."""
    digits = match.group(1)
    if len(digits) > 12:  # beyond Unicode, and too long for int() on Python's digit limit
        return "\ufffd"
    code = int(digits[1:], 16) if digits[:1] in "xX" else int(digits)
    return match.group() if code and not 0xD800 <= code <= 0xDFFF and code <= 0x10FFFF else "\ufffd"


def _entry_time(entry) -> datetime | None:
    """The item's publish (else update) time, keeping the offset the feed wrote."""
    for key in ("published", "updated", "created"):
        # dict.get: feedparser's own get() maps "published" to "updated", with a deprecation warning
        raw = (dict.get(entry, key) or "").strip()
        if not raw:
            continue
        for reader in (_rfc822, _iso):
            moment = reader(raw)
            if moment is not None:
                return moment
        if raw[:4].isdigit():
            return None  # an ISO date that does not exist (February 30th, +25:00): feedparser would shift it
        parsed = dict.get(entry, f"{key}_parsed")
        if parsed:
            return datetime(*parsed[:6], tzinfo=UTC)
    return None


def _rfc822(raw: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(raw: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
