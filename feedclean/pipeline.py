"""The library API: one dump in, one article out, through the stages in order.

    read (bytes → header + body) → parse (lxml tree) → clean (rules on the tree)
    → extract (metadata, images, captions) → render (Markdown / JSON)

`cli.py` and `batch.py` only call these functions.
"""

from __future__ import annotations

from .article import Article, InputError, Trace
from .clean import clean
from .extract import article_url, extract
from .parse import parse
from .read import read_dump
from .render import FORMATS, render
from .rules import BUILTIN, RuleSet
from .urls import host_of

DEFAULT_MAX_BYTES = 20 * 1024 * 1024


def process(
    data: bytes, name: str = "<stdin>", *, rules: RuleSet = BUILTIN, trace: bool = False, max_bytes: int = DEFAULT_MAX_BYTES
) -> Article:
    """Read, parse, clean and extract one dump; raise InputError when it cannot be converted."""
    if len(data) > max_bytes:
        raise InputError(f"file is {len(data):,} bytes, over the {max_bytes:,}-byte limit (raise it with --max-size)")
    article = read_dump(data, name)
    if trace:
        article.trace = Trace()
    parse(article)
    article.url = article_url(article)
    site = rules.for_host(host_of(article.url) if article.url else "")
    clean(article, site)
    extract(article, site)
    return article


def convert_bytes(
    data: bytes, output_format: str = "md", *, name: str = "<stdin>", rules: RuleSet = BUILTIN, max_bytes: int = DEFAULT_MAX_BYTES
) -> str:
    """Convert one dump (raw bytes, any supported encoding) to Markdown or JSON text."""
    if output_format not in FORMATS:
        raise ValueError(f"output_format must be one of {FORMATS}, not {output_format!r}")
    return render(process(data, name, rules=rules, max_bytes=max_bytes), output_format)


def convert_text(text: str, output_format: str = "md", *, rules: RuleSet = BUILTIN) -> str:
    """Convert one dump given as text: `feedclean.convert_text(open(path).read())`."""
    data = text.encode("utf-8", "replace")
    return convert_bytes(data, output_format, rules=rules, max_bytes=len(data))
