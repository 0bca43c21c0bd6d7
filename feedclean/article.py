"""The `Article` that flows through the pipeline, and the errors a single input can raise.

One object travels read → parse → clean → extract → render; each stage fills
the fields it owns (noted below) and never reaches back into an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class InputError(Exception):
    """An input that cannot be converted; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class Image:
    """An article image: the original URL, its caption and alt text (None when absent)."""

    url: str
    caption: str | None
    alt: str | None


@dataclass(frozen=True, slots=True)
class Source:
    """The publisher: a display name and its domain."""

    name: str
    domain: str


@dataclass(slots=True)
class Trace:
    """What the cleaning did and why, for `feedclean explain`; off (None) in normal runs."""

    removed: list[dict[str, str]] = field(default_factory=list)
    rewritten: list[dict[str, str]] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)

    def remove(self, what: str, excerpt: str, rule: str) -> None:
        self.removed.append({"what": what, "excerpt": excerpt, "rule": rule})

    def rewrite(self, attribute: str, before: str, after: str, rule: str) -> None:
        self.rewritten.append({"attribute": attribute, "before": before, "after": after, "rule": rule})

    def found(self, key: str, value: str, source: str) -> None:
        self.metadata.append({"field": key, "value": value, "from": source})


@dataclass(slots=True)
class Article:
    """One article on its way through the pipeline.

    read:    title, url, fetched, html, html_utf8 (the input's own bytes of html, when they
             are exactly its UTF-8: parse hands them to lxml rather than encode html again),
             encoding, name (a feed item: also published, from_feed,
             base, the xml:base its relative links are relative to, aliases, other addresses
             of the item such as FeedBurner's redirect when its origLink is the url, and
             feed_images, the pictures the feed names beside the item's text, and feed_media,
             its audio and video enclosures as (url, MIME type))
    parse:   tree, page_meta (what a whole page, or a feed's channel, says about itself)
    extract: canonical_url, source, published, language, lead, images, rights, id
    render reads all of it; the cleaned `tree` is the body.
    """

    name: str
    html: str
    html_utf8: bytes | None = None
    encoding: str = "utf-8"
    title: str | None = None
    url: str | None = None
    base: str | None = None
    fetched: datetime | None = None
    tree: Any = None
    page_meta: dict[str, str] = field(default_factory=dict)
    canonical_url: str | None = None
    source: Source | None = None
    published: datetime | None = None
    language: str | None = None
    lead: str | None = None
    images: list[Image] = field(default_factory=list)
    rights: str | None = None
    id: str = ""
    from_feed: bool = False
    aliases: list[str] = field(default_factory=list)
    feed_images: list[Image] = field(default_factory=list)
    feed_media: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    trace: Trace | None = None
