"""Where a link points, relative to the article it is in: the item itself, its site's front
page, a tag page, a social profile, another page of the same site, elsewhere.

The end matter of a feed item is found by these roles rather than by its words. The item is
known by its URL and its aliases (FeedBurner's redirect, a redirector's address), compared
without tracking parameters, and by its path alone when the path is long enough to name one
page: mirrors of a blocked site rotate hosts, even within one item.
"""

from __future__ import annotations

from urllib.parse import unquote

from lxml import etree

from .article import Article
from .rules import label_key
from .siterules import SiteRules
from .tree import text_of
from .urls import canonical_url, host_of, site_of, split_url

# A path this long names one page, even on another host (a mirror of the same site).
_PAGE_PATH_CHARS = 12
# The folder a social network keeps its profiles in (reddit.com/r/…, youtube.com/channel/…).
_PROFILE_FOLDERS = frozenset(("r", "u", "user", "users", "channel", "c", "company", "in", "people", "pages", "groups", "profile"))
# Fragments that point at an item's comments, or at where its teaser stops (WordPress's and
# Blogger's "#more", "#more-123"): the item, not a place in its text. Whole fragments only:
# "#morecambe-bay" and "#more-photos" are sections of the article.
_ITEM_FRAGMENTS = frozenset(("more", "comments", "comment-form", "respond", "disqus_thread", "reply"))
# The same followed by a number ("#more-123", "#comment-456", "#reply-7").
_NUMBERED_ITEM_FRAGMENTS = frozenset(("more", "comment", "reply"))
# What a fragment can name in the item's own text: an element's id, an old anchor's name.
_ANCHOR_NAMES = etree.XPath("descendant-or-self::*/@id | descendant::a/@name")
# Words a read-more link may add after its label ("Read more of this story").
_READ_MORE_EXTRA_WORDS = 4


class LinkRoles:
    """Where each link points, relative to the article: its own addresses and its site."""

    def __init__(self, article: Article, site: SiteRules) -> None:
        self._site = site
        self._article = article
        self._known: tuple[set[tuple[str, str, str]], set[str]] | None = None
        self._anchor_names: frozenset[str] | None = None
        self.body = article.tree
        self.own_host = host_of(article.url or "")

    @property
    def _title(self) -> str:
        return label_key(self._article.title or "")

    def _own_addresses(self) -> tuple[set[tuple[str, str, str]], set[str]]:
        """The item's addresses (host, path, query) and its long paths, worked out on first use."""
        if self._known is None:
            addresses: set[tuple[str, str, str]] = set()
            paths: set[str] = set()
            for url in (self._article.url, *self._article.aliases):
                parts = split_url(canonical_url(url, self._site.tracking)) if url else None
                if parts is not None:
                    host, path, query, _ = parts
                    addresses.add((host, _path_key(path), query))
                    if len(path) >= _PAGE_PATH_CHARS:
                        paths.add(_path_key(path))
            self._known = (addresses, paths)
        return self._known

    def of(self, link: etree._Element) -> str:
        """self, anchor, root, tag, profile, contact, glyph, readmore, front, own or external.

        What only a site's own links can be (its front page, its tag pages, its read-more
        link) is only said of links to the article's own site: a link to another site's
        front page or to a release tagged on GitHub is a citation.
        """
        href = link.get("href") or ""
        words = label_key(text_of(link))
        if not words and next(link.iter("img"), None) is None:
            return "glyph"
        if href.startswith(("mailto:", "tel:")):
            return "contact"
        parts = split_url(canonical_url(href, self._site.tracking) + _fragment(href))
        if parts is None:
            return "external"
        host, path, query, fragment = parts
        key = _path_key(path)
        addresses, paths = self._own_addresses()
        if (host, key, query) in addresses or (key in paths and not query):
            return self._of_own_address(fragment, words)
        own = self._is_own(host)
        if own or self._is_same_site(host):
            if words in self._site.readmore_labels:
                return "readmore"
            if not key and not query:
                return "root"
            rel = (link.get("rel") or "").lower().split()
            lowered = path.lower()
            if "tag" in rel or "category" in rel or any(marker in lowered for marker in self._site.tag_paths):
                return "tag"
        if not query and self._is_profile(host, path):
            return "profile"
        if not key and not query:
            return "front"  # another site's front page
        return "own" if own else "external"

    def _of_own_address(self, fragment: str, words: str) -> str:
        """self or anchor, for a link to the item's own address: with a fragment, a place in
        the article (a footnote, a section, a table) unless the fragment names the item's
        comments or teaser break, or the link says exactly read more. A fragment that names
        an anchor in the item's own text is always that place."""
        if not fragment:
            return "self"
        if unquote(fragment) in self._anchors() or not (_is_item_fragment(fragment) or words in self._site.readmore_labels):
            return "anchor"
        return "self"

    def _anchors(self) -> frozenset[str]:
        """The ids and anchor names in the item's text, found on first use."""
        if self._anchor_names is None:
            self._anchor_names = frozenset(str(name) for name in _ANCHOR_NAMES(self.body))
        return self._anchor_names

    def is_own_host(self, host: str) -> bool:
        return self._is_own(host)

    def _is_own(self, host: str) -> bool:
        """The article's host, or one of its subdomains or parents (blog.example.com beside
        example.com); support.google.com is not cloud.google.com's own site."""
        own = self.own_host
        return bool(own) and (host == own or host.endswith("." + own) or own.endswith("." + host))

    def _is_same_site(self, host: str) -> bool:
        """Another host of the article's registered site (a mirror's sibling, www. or m.)."""
        return bool(self.own_host) and site_of(host) == site_of(self.own_host)

    def is_note(self, links: list[etree._Element], link_roles: list[str], outside: str) -> bool:
        """Whether a block that links to the item is a note about it rather than text about
        the page the item links to: the link names the item by its title ("The post <title>
        appeared first on …") or says read more ("… click here"), or the words around it do
        ("Read more of this story at Slashdot")."""
        for link, role in zip(links, link_roles, strict=True):
            if role != "self":
                continue
            words = label_key(text_of(link))
            if self._says_read_more(words) or self._names_the_item(words):
                return True
        around = f" {label_key(outside)} "
        return any(f" {label} " in around for label in self._site.readmore_labels if " " in label)

    def says_read_more(self, link: etree._Element) -> bool:
        return label_key(text_of(link)) in self._site.readmore_labels

    def _says_read_more(self, words: str) -> bool:
        """A read-more label, or one of several words followed by a few more ("read more of
        this story"): said of a link to the item itself (not to a section of it: "Read more
        about the harbour" may lead to the history below), that is never the article's text."""
        labels = self._site.readmore_labels
        if words in labels:
            return True
        extra = words.split()
        return any(
            " " in label and words.startswith(label + " ") and len(extra) <= label.count(" ") + 1 + _READ_MORE_EXTRA_WORDS
            for label in labels
        )

    def _names_the_item(self, words: str) -> bool:
        """The item's title, or most of it (a feed may shorten it)."""
        title = self._title
        return bool(title) and (words == title or (5 * len(words) >= 3 * len(title) and words in title))

    def linked_elsewhere(self, note: etree._Element) -> bool:
        """Whether the body links to the item outside `note`: then the item is what the text
        is about (a link blog's item is the page it links to), not a footer's subject."""
        body = note.getroottree().getroot()
        inside = set(note.iter("a"))
        return any(link not in inside and link.get("href") and self.of(link) == "self" for link in body.iter("a"))

    def _is_profile(self, host: str, path: str) -> bool:
        """A page of a person or an outlet on a social network (twitter.com/name, reddit.com/r/x),
        not a post there (twitter.com/name/status/1, zhihu.com/question/1)."""
        profiles = self._site.profile_hosts
        if host not in profiles and host.partition(".")[2] not in profiles:
            return False
        parts = [part for part in path.split("/") if part]
        if len(parts) == 1:
            return not parts[0].isdigit()  # vimeo.com/123456 is a video
        return len(parts) == 2 and parts[0].lower() in _PROFILE_FOLDERS


def _is_item_fragment(fragment: str) -> bool:
    """Whether a fragment is one of _ITEM_FRAGMENTS or a numbered one (`more-123`), whole: a
    section an author named `more-details` or `comments-from-readers` is the article's."""
    lowered = fragment.lower()
    name, _, number = lowered.rpartition("-")
    return lowered in _ITEM_FRAGMENTS or (name in _NUMBERED_ITEM_FRAGMENTS and _is_digits(number))


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _fragment(href: str) -> str:
    fragment = href.partition("#")[2]
    return "#" + fragment if fragment else ""


def _path_key(path: str) -> str:
    """A path as compared: percent-escapes decoded (%E4 and %e4 alike), no trailing slash."""
    return (unquote(path) if "%" in path else path).rstrip("/")
