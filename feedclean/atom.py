"""`feedclean feed`: an Atom 1.0 feed (RFC 4287) of the newest articles in a folder convert wrote.

The feed is a function of the folder's article files: entries newest first by
`published` (else `fetched`, else the file's modification time), one per
article id, and the feed's `updated` is its newest entry's date, never the
time of the run, so the same folder gives the same bytes and a reader sees
nothing new when nothing is. Only the `--limit` newest articles are held while
the folder is read, however many it has.

Each entry's content is HTML rendered from the article's Markdown by
markdown-it-py (CommonMark, with GFM tables, the two things the Markdown
holds), with raw HTML off and only the link schemes feedclean itself writes
(`http(s)`, `mailto`, `tel`, `ftp`), so a hand-edited article cannot smuggle
a script, an event handler or a `javascript:` link into a reader. Every text
goes through controls.py (the one guard against control characters) and loses
what XML cannot hold, so any title gives a well-formed feed.
"""

from __future__ import annotations

import os
import re
import uuid
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from . import __version__
from .controls import encode_controls, strip_controls
from .dates import isoformat
from .limits import DEFAULT_MAX_BYTES
from .paths import SUFFIXES, is_inside
from .readback import Read, StoredArticle, read_articles
from .tree import xml_safe
from .urls import LINK_SCHEMES, is_allowed, percent_encode_unsafe, url_scheme
from .write import replacement_problem

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

# How a feed `feedclean feed` wrote begins: only such a file (or an empty one) is replaced by -o.
FEED_START = b"<?xml version='1.0' encoding='utf-8'?>\n<!-- Atom feed written by feedclean feed"
_COMMENT = " Atom feed written by feedclean feed: it replaces this file on each run "
_ATOM = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Entry and feed ids are name-based UUIDs (RFC 4122) in this namespace: an article has the same
# entry id in every feed, and ids stay the same across runs, machines and folders.
_ID_NAMESPACE = uuid.UUID("3f0d5a57-6c1b-4b8e-9a40-8c2f4e0b7d19")
# A BCP 47 tag as xml:lang takes it; anything else in `language` is left out.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
# The date of a feed with no entries: it must have one, and it must not be the time of the run.
_NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedOptions:
    """What decides which articles a feed holds and what it is called."""

    title: str
    limit: int
    sources: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    # The (device, inode) of the file the feed goes to, when it is stdout: never read as an article.
    output: tuple[int, int] | None = None


def default_title(folder: Path, sources: tuple[str, ...]) -> str:
    """The title of a feed given no --title: the folder's name (and the sources picked) tell one
    feed from another in a reader's list."""
    name = os.path.basename(os.path.realpath(folder)) or "articles"
    return f"feedclean: {name}" + (f" ({', '.join(sources)})" if sources else "")


def build_feed(folder: Path, options: FeedOptions, on_skipped: Callable[[Read], None]) -> bytes:
    """The feed of `folder`'s newest articles, as the bytes of an Atom document; `on_skipped`
    hears of each file that gave no article."""
    newest = _Newest(options.limit)
    wanted = {source.casefold() for source in options.sources}
    for read in read_articles(folder, options.max_bytes, options.output):
        if read.article is None:
            on_skipped(read)
        elif not wanted or _source_names(read.article) & wanted:
            newest.offer(read.article)
    return _atom(newest.articles(), options)


def _source_names(article: StoredArticle) -> set[str]:
    """What --source matches an article by: its source's name and domain, case-folded."""
    return {name.casefold() for name in (article.source_name, article.source_domain) if name}


def target_problem(output: Path, folder: Path) -> str | None:
    """Why -o must not be `output` (its real path, symlinks followed), or None: a file named like
    an article inside the folder would be read as one next time, and only an earlier feed of
    feedclean's, or an empty file, is replaced."""
    if is_inside(output, folder) and output.name.endswith(tuple(SUFFIXES.values())):
        return "is inside the folder the feed is made from, named like an article, so it would be read as one: name it .atom"
    return replacement_problem(output, (FEED_START,), "a feed feedclean wrote", "-o")


class _Newest:
    """The `limit` newest articles offered so far, one per id (its newest copy, the latest fetched
    of equal dates), kept in rank order. An article dropped for `limit` newer ones can never come
    back, since those stay ahead of it, so `limit` articles are all memory holds."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._ranks: list[tuple] = []
        self._articles: list[StoredArticle] = []
        self._rank_of: dict[str, tuple] = {}

    def offer(self, article: StoredArticle) -> None:
        rank = _rank(article)
        held = self._rank_of.get(article.id)
        if held is not None:
            if rank >= held:
                return
            self._remove(bisect_left(self._ranks, held))
        elif len(self._ranks) >= self._limit:
            if rank >= self._ranks[-1]:
                return
            self._remove(len(self._ranks) - 1)
        at = bisect_left(self._ranks, rank)
        self._ranks.insert(at, rank)
        self._articles.insert(at, article)
        self._rank_of[article.id] = rank

    def _remove(self, at: int) -> None:
        del self._rank_of[self._articles[at].id]
        del self._ranks[at]
        del self._articles[at]

    def articles(self) -> list[StoredArticle]:
        return list(self._articles)


def _rank(article: StoredArticle) -> tuple:
    """Where an article goes in the feed (lowest first): newest date first, ties by id; of two
    copies of one article, the one fetched last, then the first by path. Paths are unique, so
    the order never depends on the order files were read in."""
    fetched = article.fetched.timestamp() if article.fetched is not None else float("-inf")
    return (-_date(article).timestamp(), article.id, -fetched, article.path)


def _date(article: StoredArticle) -> datetime:
    return article.published or article.fetched or article.written


def _atom(articles: list[StoredArticle], options: FeedOptions) -> bytes:
    feed = etree.Element(_tag("feed"), nsmap={None: _ATOM})
    feed.addprevious(etree.Comment(_COMMENT))
    _add(feed, "id", _urn("feed", options.title, *options.sources))
    _add(feed, "title", _xml_text(options.title))
    _add(feed, "updated", isoformat(_date(articles[0]) if articles else _NO_DATE))
    _add(feed, "generator", "feedclean").set("version", __version__)
    for article in articles:
        _entry(feed, article)
    return etree.tostring(feed.getroottree(), xml_declaration=True, encoding="utf-8", pretty_print=True)


def _entry(feed: etree._Element, article: StoredArticle) -> None:
    entry = _add(feed, "entry")
    if article.language is not None and _LANGUAGE_TAG.fullmatch(article.language):
        entry.set(_XML_LANG, article.language)
    _add(entry, "id", _urn("article", article.id))
    _add(entry, "title", _xml_text(article.title or ""))
    _add(entry, "updated", isoformat(_date(article)))
    if article.published is not None:
        _add(entry, "published", isoformat(article.published))
    url = percent_encode_unsafe(_xml_text(encode_controls(article.url or "")))
    if url_scheme(url) in ("http", "https"):
        link = _add(entry, "link")
        link.set("rel", "alternate")
        link.set("type", "text/html")
        link.set("href", url)
    source = article.source_name or article.source_domain
    if source:
        _add(_add(entry, "author"), "name", _xml_text(source))
    if article.rights:
        _add(entry, "rights", _xml_text(article.rights))
    _add(entry, "content", _html(article.markdown)).set("type", "html")


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _tag(name))
    element.text = text
    return element


def _tag(name: str) -> str:
    return f"{{{_ATOM}}}{name}"


def _urn(*names: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, chr(0).join(names))}"


def _xml_text(text: str) -> str:
    """`text` as XML can hold it: no control characters (controls.py), no U+FFFE or U+FFFF
    (tree.xml_safe), and a lone surrogate, which only a hand-written escape can make, replaced."""
    return xml_safe(strip_controls(text)).encode("utf-8", "replace").decode("utf-8")


def _html(markdown: str) -> str:
    """The Markdown rendered, then made fit for XML: the renderer turns a reference such as `&#12;`
    into the character it names."""
    return _xml_text(_renderer().render(markdown))


@cache
def _renderer() -> MarkdownIt:
    """CommonMark with GFM tables, raw HTML off, links and images only to schemes feedclean writes."""
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    renderer.validateLink = partial(is_allowed, schemes=LINK_SCHEMES)
    return renderer
