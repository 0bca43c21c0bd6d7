"""The library API: one input in, its articles out, through the stages in order.

    read (bytes → header + body) → parse (lxml tree) → clean (rules on the tree; for a feed,
    then what recurs across its items) → extract (metadata, images, captions) → render

A dump gives one article; a feed file (RSS or Atom) one per item. `cli.py`
and `batch.py` only call these functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import NamedTuple

from .article import Article, InputError, Trace
from .clean import clean
from .extract import article_url, extract
from .feeds import looks_like_feed, read_feed
from .limits import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_SECONDS, each_input, over_size_limit, read_input
from .parse import parse
from .paths import STREAM_FORMATS
from .read import decode_input, split_dump
from .recurring import remove_recurring
from .render import render
from .rules import BUILTIN, RuleSet
from .siterules import SiteRules
from .urls import host_of


def process_all(
    data: bytes, name: str = "<stdin>", *, rules: RuleSet = BUILTIN, trace: bool = False, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[Article]:
    """Every article in one input (one for a dump, one per item for a feed); InputError if none."""
    if len(data) > max_bytes:
        raise InputError(over_size_limit(max_bytes, len(data)))
    decoded = decode_input(data)
    text = decoded.text
    articles = read_feed(text, name, decoded.encoding) if looks_like_feed(text) else [split_dump(decoded, name)]
    sites = [_clean_stages(article, rules, trace) for article in articles]
    if articles[0].from_feed:
        remove_recurring(articles)
    for article, site in zip(articles, sites, strict=True):
        extract(article, site)
    return articles


def process(
    data: bytes, name: str = "<stdin>", *, rules: RuleSet = BUILTIN, trace: bool = False, max_bytes: int = DEFAULT_MAX_BYTES
) -> Article:
    """The article in one dump; InputError if it cannot be converted or is a feed of several items."""
    articles = process_all(data, name, rules=rules, trace=trace, max_bytes=max_bytes)
    if len(articles) != 1:
        raise InputError(f"a feed file with {len(articles)} items: use process_all(), or convert it into a folder")
    return articles[0]


def _clean_stages(article: Article, rules: RuleSet, trace: bool) -> SiteRules:
    """Parse and clean one article; the rules of its site, for extracting its metadata."""
    if trace:
        article.trace = Trace()
    parse(article)
    article.url = article_url(article, rules)
    site = rules.for_host(host_of(article.url) if article.url else "")
    clean(article, site)
    return site


def render_all(articles: list[Article], output_format: str) -> str:
    """One article as its file's text; several (a feed) as a JSON array, as JSON Lines, or Markdown files one after another."""
    if output_format == "jsonl":
        return "".join(render(article, output_format) for article in articles)
    if len(articles) == 1 and not articles[0].from_feed:
        return render(articles[0], output_format)
    if output_format == "json":
        return json.dumps([json.loads(render(article, "json")) for article in articles], ensure_ascii=False, indent=2) + "\n"
    return "\n".join(render(article, output_format) for article in articles)


def convert_bytes(
    data: bytes, output_format: str = "md", *, name: str = "<stdin>", rules: RuleSet = BUILTIN, max_bytes: int = DEFAULT_MAX_BYTES
) -> str:
    """Convert one input (raw bytes, any supported encoding) to Markdown, JSON or JSON Lines text."""
    _check_format(output_format)
    return render_all(process_all(data, name, rules=rules, max_bytes=max_bytes), output_format)


def render_with_warnings(data: bytes, name: str, output_format: str, rules: RuleSet, max_bytes: int) -> tuple[str, list[str]]:
    """One input's text, as convert_bytes gives it, and its articles' warnings: what a child
    process converting under --timeout sends back."""
    articles = process_all(data, name, rules=rules, max_bytes=max_bytes)
    return render_all(articles, output_format), [warning for article in articles for warning in article.warnings]


class Converted(NamedTuple):
    """One input of a stream: its name as shown, its text (empty if it failed), its warnings, and its problem, if any."""

    name: str
    text: str
    warnings: list[str]
    problem: str | None


def convert_paths(
    paths: Iterable[Path],
    output_format: str = "jsonl",
    *,
    rules: RuleSet = BUILTIN,
    globs: tuple[str, ...] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    output: tuple[int, int] | None = None,
) -> Iterator[Converted]:
    """Every input under `paths`, converted one after another in the order `convert` finds them.

    A stream for any number of inputs: each is read and converted in a child process held to
    `timeout` (kept from one input to the next: forking per input would compile the rules again
    each time), only one input's text is held at a time, and a bad input is a Converted with its
    problem, never the end of the stream. Nothing is written. `output`, the (device, inode) of
    the file the caller writes the stream to, is never read: found among the inputs, it is a
    Converted with the problem "is the output itself; skipped", as `cat` refuses it.
    """
    _check_format(output_format)
    convert_file = partial(_convert_file, output_format=output_format, rules=rules, max_bytes=max_bytes)
    for name, converted, problem in each_input(paths, globs, timeout, convert_file, output):
        text, warnings = converted if converted is not None else ("", [])
        yield Converted(name, text, warnings, problem)


def _convert_file(path: str, name: str, output_format: str, rules: RuleSet, max_bytes: int) -> tuple[str, list[str]]:
    return render_with_warnings(read_input(path, max_bytes), name, output_format, rules, max_bytes)


def _check_format(output_format: str) -> None:
    """A format feedclean has no renderer for is the caller's mistake: said before any input is read."""
    if output_format not in STREAM_FORMATS:
        raise ValueError(f"output_format must be one of {STREAM_FORMATS}, not {output_format!r}")


def convert_text(text: str, output_format: str = "md", *, rules: RuleSet = BUILTIN) -> str:
    """Convert one input given as text: `feedclean.convert_text(open(path).read())`."""
    data = text.encode("utf-8", "replace")
    return convert_bytes(data, output_format, rules=rules, max_bytes=len(data))
