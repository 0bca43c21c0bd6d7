"""`feedclean feed`: an Atom 1.0 feed (RFC 4287) of the newest articles in a folder convert wrote.

The feed is a function of the folder's article files: entries newest first by
`published`, never later than the article was fetched (without a fetch time,
than its file was written: a date in 2199 would hold the top of the feed for
ever), else by `fetched`, else by the file's modification time; the feed's
`updated` is its newest entry's date, never the time of the run, so the same
folder gives the same bytes and a reader sees nothing new when nothing is.
Copies of one article (the same id and the same text: an .md and a .json, a
dump saved twice) give one entry; a different text under the same id (another
input claiming the URL) is an entry of its own, with an id of its own, so no
input can take another's place. Only the `--limit` newest articles are held
while the folder is read, however many it has (of the others, an id and a
digest of the text each), and an entry holds at most MAX_ENTRY_MARKDOWN of
Markdown.

Each entry's content is HTML rendered from the article's Markdown by
markdown-it-py (CommonMark, with GFM tables, the two things the Markdown
holds), with raw HTML off and only the link schemes feedclean itself writes
(`http(s)`, `mailto`, `tel`, `ftp`), so a hand-edited article cannot smuggle
a script, an event handler or a `javascript:` link into a reader. Every text
goes through controls.py (the one guard against control characters) and loses
what XML cannot hold, so any title gives a well-formed feed.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import uuid
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

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
# entry id in every feed, and ids stay the same across runs and machines.
_ID_NAMESPACE = uuid.UUID("3f0d5a57-6c1b-4b8e-9a40-8c2f4e0b7d19")
# A BCP 47 tag as xml:lang takes it; anything else in `language` is left out.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
# The date of what has none (a feed with no entries, an article with no date at all): it must
# have one, and it must not be the time of the run.
_NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)
# The most Markdown (UTF-8 bytes) an entry holds; a longer article's entry is a note with its
# link. Rendering 6 MB took 10 s and 1 GB of memory, for an entry no reader shows whole.
MAX_ENTRY_MARKDOWN = 512 * 1024


@dataclass(frozen=True)
class FeedOptions:
    """What decides which articles a feed holds and what it is called (`title` None: default_title)."""

    title: str | None
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


def build_feed(folder: Path, options: FeedOptions, on_skipped: Callable[[Read], None], on_cut: Callable[[str], None]) -> bytes:
    """The feed of `folder`'s newest articles, as the bytes of an Atom document; `on_skipped`
    hears of each file that gave no article, `on_cut` of each (by name) whose entry is a note,
    its article being over MAX_ENTRY_MARKDOWN."""
    newest = _Newest(options.limit)
    bodies: dict[str, bytes | None] = {}  # each id's text (a digest of it), None once it has several
    wanted = {source.casefold() for source in options.sources}
    for read in read_articles(folder, options.max_bytes, options.output):
        if read.article is None:
            on_skipped(read)
        elif not wanted or _source_names(read.article) & wanted:
            held = _hold(read.article, read.name)
            identity = held.article.id
            bodies[identity] = held.body if bodies.get(identity, held.body) == held.body else None
            newest.offer(held)
    entries = newest.entries()
    for held in entries:
        if held.cut:
            on_cut(held.name)
    return _atom(folder, entries, bodies, options)


def _source_names(article: StoredArticle) -> set[str]:
    """What --source matches an article by: its source's name and domain, case-folded."""
    return {name.casefold() for name in (article.source_name, article.source_domain) if name}


class _Held(NamedTuple):
    """An article as the feed holds it: the name of its file, a digest of its Markdown (what
    tells two copies of one article from two articles under one id), and whether it is over
    MAX_ENTRY_MARKDOWN (`cut`: its Markdown is then dropped, never held or rendered)."""

    article: StoredArticle
    name: str
    body: bytes
    cut: bool


def _hold(article: StoredArticle, name: str) -> _Held:
    # Without the line ends around it: an .md file's body has a blank line before it and a newline
    # after it, which the markdown of the .json file of the same article has not.
    text = article.markdown.strip("\n").encode("utf-8", "surrogatepass")
    cut = len(text) > MAX_ENTRY_MARKDOWN
    body = hashlib.blake2b(text, digest_size=16).digest()
    return _Held(article._replace(markdown="") if cut else article, name, body, cut)


def target_problem(output: Path, folder: Path) -> str | None:
    """Why -o must not be `output` (its real path, symlinks followed), or None: a file named like
    an article inside the folder would be read as one next time, and only an earlier feed of
    feedclean's, or an empty file, is replaced."""
    if is_inside(output, folder) and output.name.endswith(tuple(SUFFIXES.values())):
        return "is inside the folder the feed is made from, named like an article, so it would be read as one: name it .atom"
    return replacement_problem(output, (FEED_START,), "a feed feedclean wrote", "-o")


class _Newest:
    """The `limit` newest articles offered so far, one per id and text (of copies, the newest, the
    latest fetched of equal dates), kept in rank order. An article dropped for `limit` newer ones
    can never come back, since those stay ahead of it, so `limit` articles are all memory holds."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._ranks: list[tuple] = []
        self._entries: list[_Held] = []
        self._rank_of: dict[tuple[str, bytes], tuple] = {}

    def offer(self, held: _Held) -> None:
        rank = _rank(held.article)
        copy = self._rank_of.get((held.article.id, held.body))
        if copy is not None:
            if rank >= copy:
                return
            self._remove(bisect_left(self._ranks, copy))
        elif len(self._ranks) >= self._limit:
            if rank >= self._ranks[-1]:
                return
            self._remove(len(self._ranks) - 1)
        at = bisect_left(self._ranks, rank)
        self._ranks.insert(at, rank)
        self._entries.insert(at, held)
        self._rank_of[held.article.id, held.body] = rank

    def _remove(self, at: int) -> None:
        removed = self._entries.pop(at)
        del self._rank_of[removed.article.id, removed.body]
        del self._ranks[at]

    def entries(self) -> list[_Held]:
        return list(self._entries)


def _rank(article: StoredArticle) -> tuple:
    """Where an article goes in the feed (lowest first): newest date first, ties by id; of two
    copies of one article, the one fetched last, then the first by path. Paths are unique, so
    the order never depends on the order files were read in."""
    fetched = article.fetched.timestamp() if article.fetched is not None else float("-inf")
    return (-_date(article).timestamp(), article.id, -fetched, article.path)


def _date(article: StoredArticle) -> datetime:
    """When an article counts as new: when it was published, but never later than when it was
    fetched or, with no fetch time (a feed's item), its file written: a `pubDate` in 2199 would
    hold the top of the feed for ever. Unpublished, when it was fetched, else written."""
    seen = article.fetched or article.written
    if article.published is None or seen is None:
        return article.published or seen or _NO_DATE
    return min(article.published, seen)


def _atom(folder: Path, entries: list[_Held], bodies: dict[str, bytes | None], options: FeedOptions) -> bytes:
    title = _xml_text(options.title or default_title(folder, options.sources))
    feed = etree.Element(_tag("feed"), nsmap={None: _ATOM})
    feed.addprevious(etree.Comment(_COMMENT))
    _add(feed, "id", _feed_id(folder, options))
    _add(feed, "title", title)
    _add(_add(feed, "author"), "name", title or "feedclean")  # RFC 4287 4.1.1: not every entry has one
    _add(feed, "updated", _utc(_date(entries[0].article) if entries else _NO_DATE))
    _add(feed, "generator", "feedclean").set("version", __version__)
    for held in entries:
        identity = held.article.id
        several = bodies[identity] is None  # then each text is an entry of its own
        _entry(feed, held, _urn("article", identity, held.body.hex()) if several else _urn("article", identity))
    return etree.tostring(feed.getroottree(), xml_declaration=True, encoding="utf-8", pretty_print=True)


def _feed_id(folder: Path, options: FeedOptions) -> str:
    """What tells one feed from another, the same on every run: the folder (its real path: two
    folders named `out` give two feeds, and a folder moved gives a new one), the sources picked,
    in any case and order, and the title given (the default one adds nothing to those)."""
    sources = sorted({source.casefold() for source in options.sources})
    return _urn("feed", os.path.realpath(folder), options.title or "", *sources)


def _entry(feed: etree._Element, held: _Held, identity: str) -> None:
    article = held.article
    entry = _add(feed, "entry")
    if article.language is not None and _LANGUAGE_TAG.fullmatch(article.language):
        entry.set(_XML_LANG, article.language)
    _add(entry, "id", identity)
    _add(entry, "title", _xml_text(article.title or ""))
    _add(entry, "updated", _utc(_date(article)))
    if article.published is not None:
        _add(entry, "published", _utc(article.published))
    url = percent_encode_unsafe(_xml_text(encode_controls(article.url or "")))
    link = url if url_scheme(url) in ("http", "https") else None
    if link is not None:
        element = _add(entry, "link")
        element.set("rel", "alternate")
        element.set("type", "text/html")
        element.set("href", link)
    source = article.source_name or article.source_domain
    if source:
        _add(_add(entry, "author"), "name", _xml_text(source))
    if article.rights:
        _add(entry, "rights", _xml_text(article.rights))
    _add(entry, "content", _too_long(link) if held.cut else _html(article.markdown)).set("type", "html")


def _too_long(link: str | None) -> str:
    """The content of an entry whose article is over MAX_ENTRY_MARKDOWN: a note, and its link."""
    where = f' <a href="{html.escape(link)}">Read it at its source.</a>' if link else ""
    return f"<p>This article is too long for the feed (over {MAX_ENTRY_MARKDOWN // 1024} KiB).{where}</p>\n"


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _tag(name))
    element.text = text
    return element


def _tag(name: str) -> str:
    return f"{{{_ATOM}}}{name}"


def _urn(*names: str) -> str:
    """A name-based UUID (RFC 4122, version 5: what uuid.uuid5 gives) of `names`; of any text,
    where uuid5 raised on a lone surrogate, which an id read from JSON ("\\ud800") may hold."""
    name = chr(0).join(names).encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(_ID_NAMESPACE.bytes + name, usedforsecurity=False).digest()
    return f"urn:uuid:{uuid.UUID(bytes=digest[:16], version=5)}"


def _utc(moment: datetime) -> str:
    """A date as the feed writes it: in UTC, as RFC 3339 has it (an offset such as +05:30:15,
    which a hand-edited article may hold, is not RFC 3339's)."""
    return isoformat(moment.astimezone(UTC))


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
