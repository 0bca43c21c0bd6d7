"""Stage 5, render: the article as Markdown with YAML front matter, or as JSON (an object, or a line of JSON Lines).

Output is a pure function of the article: no run times, no paths, keys in a
fixed order, so re-runs give byte-identical files.

The front matter is written by hand, every string double-quoted in JSON style
(a subset of YAML's double-quoted scalars), so any title, with quotes, colons,
`#` or brackets, is valid YAML without a YAML library on the hot path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .article import Article
from .controls import encode_controls, strip_controls
from .dates import isoformat
from .markdown import render_body

SCHEMA_VERSION = 1

# Characters YAML either forbids in a document or reads as line breaks; JSON leaves them raw.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# Line and paragraph separators: valid raw in a JSON string, yet a line end to many readers of lines.
_LINE_BREAKS_JSON_KEEPS = re.compile("[\u2028\u2029]")
# A string without these needs no escaping at all inside double quotes.
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]')


def render(article: Article, output_format: str) -> str:
    """The article in `output_format` ("md", "json", or "jsonl": the JSON object on one line), ending with a newline."""
    markdown, text = render_body(article.tree)
    metadata = metadata_of(article)
    if output_format in ("json", "jsonl"):
        document = {"schema": SCHEMA_VERSION, **metadata, "markdown": markdown, "text": text}
        if output_format == "json":
            return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        return _json_line(document)
    front = "\n".join(_yaml_lines(metadata, 0))
    return f"---\n{front}\n---\n\n{markdown}\n" if markdown else f"---\n{front}\n---\n"


def _json_line(document: dict[str, Any]) -> str:
    """`document` as one line of JSON Lines: compact, UTF-8 as it is, but for U+2028 and U+2029,
    which JSON leaves raw and many readers of lines (JavaScript's, Python's str.splitlines) take
    for line ends."""
    line = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return _LINE_BREAKS_JSON_KEEPS.sub(lambda match: f"\\u{ord(match.group()):04x}", line) + "\n"


def metadata_of(article: Article) -> dict[str, Any]:
    """The article's metadata in output order, shared by both formats, with no control character
    in any of it (text fields lose theirs, URLs have theirs percent-encoded)."""
    source = article.source
    return {
        "title": _text(article.title),
        "id": article.id,
        "url": _url(article.canonical_url),
        "source": {"name": strip_controls(source.name), "domain": strip_controls(source.domain)} if source else None,
        "published": isoformat(article.published),
        "fetched": isoformat(article.fetched),
        "language": _text(article.language),
        "lead": _text(article.lead),
        "images": [
            {"url": encode_controls(image.url), "caption": _text(image.caption), "alt": _text(image.alt)}
            for image in article.images
        ],
        "rights": _text(article.rights),
    }


def _text(value: str | None) -> str | None:
    return None if value is None else strip_controls(value)


def _url(value: str | None) -> str | None:
    return None if value is None else encode_controls(value)


def _yaml_lines(mapping: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for key, value in mapping.items():
        if isinstance(value, str) and (
            (value.isprintable() and '"' not in value and "\\" not in value) or _NEEDS_ESCAPE.search(value) is None
        ):
            # Most values: quoted as they are, without a call for each (what _NEEDS_ESCAPE finds is
            # a quote, a backslash or not printable; str.isprintable is the faster search).
            lines.append(f'{pad}{key}: "{value}"')
        elif isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.extend(_yaml_lines(value, indent + 2))
        elif isinstance(value, list):
            if not value:
                lines.append(f"{pad}{key}: []")
                continue
            lines.append(f"{pad}{key}:")
            for item in value:
                item_lines = _yaml_lines(item, indent + 4)
                lines.append(f"{pad}  - {item_lines[0].lstrip()}")
                lines.extend(item_lines[1:])
        else:
            lines.append(f"{pad}{key}: {yaml_scalar(value)}")
    return lines


def yaml_scalar(value: Any) -> str:
    """A YAML scalar: null, an integer, or a double-quoted string any YAML parser accepts (a
    string _NEEDS_ESCAPE finds nothing in comes out as it is, in quotes: _yaml_lines writes those)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    quoted = json.dumps(str(value), ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", quoted)
