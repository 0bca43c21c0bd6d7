"""Reading convert's outputs back: an article's metadata and Markdown from its .md or .json file.

What `feedclean feed` builds on. An output folder is the user's too: files in it
may be hand-edited (an editor may rewrite the front matter in its own YAML style),
and other files may sit beside the articles. So a file is read by what it holds,
not trusted for it: the front matter with a YAML parser, every field checked for
its type, and a file that is no article is a one-line reason, never a traceback.
The state in OUT/.feedclean is not consulted: it records inputs, not the
articles' dates, and it is a cache an archive may be copied without.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from .article import InputError
from .limits import read_input
from .paths import OUTPUT_ITSELF, SUFFIXES, discover, display_path, is_output

# The files an output folder's articles are in.
ARTICLE_GLOBS = tuple(f"*{suffix}" for suffix in SUFFIXES.values())
_FRONT_MATTER_START = "---\n"
_FRONT_MATTER_END = "\n---\n"


class NotAnArticle(Exception):
    """A file that is not an article convert wrote, or no longer reads as one; the message says why."""


class StoredArticle(NamedTuple):
    """What a feed needs of one article file: its metadata as convert wrote it, its Markdown body,
    its place in the folder and when it was last written (which dates an article that has no date
    of its own; None when the file's modification time is out of range)."""

    id: str
    title: str | None
    url: str | None
    source_name: str | None
    source_domain: str | None
    published: datetime | None
    fetched: datetime | None
    language: str | None
    rights: str | None
    markdown: str
    path: str
    written: datetime | None


class Read(NamedTuple):
    """One file of the folder: its article, or why it has none (`unreadable` when the file, not
    what it holds, is the problem: a folder or file that cannot be read, one over the size limit)."""

    name: str
    article: StoredArticle | None
    problem: str | None = None
    unreadable: bool = False


def read_articles(folder: Path, max_bytes: int, output: tuple[int, int] | None = None) -> Iterator[Read]:
    """Every .md and .json file under `folder`, as convert's input search finds files (hidden
    files and folders, OUT/.feedclean among them, skipped), each read as an article; but not
    the file `output` (its device and inode), the one the feed is written to."""
    for found in discover([folder], None, ARTICLE_GLOBS):
        name = display_path(found.path)
        problem = found.problem or (OUTPUT_ITSELF if is_output(found.path, output) else None)
        if problem is not None:
            yield Read(name, None, problem, unreadable=True)
            continue
        try:
            data = read_input(found.path, max_bytes)
            written = _modified(os.stat(found.path).st_mtime)
        except (InputError, OSError) as error:
            yield Read(name, None, str(error), unreadable=True)
            continue
        try:
            article = article_of(data, found.relative, written)
        except NotAnArticle as error:
            yield Read(name, None, f"not a feedclean article ({error}); skipped")
            continue
        yield Read(name, article)


def _modified(mtime: float) -> datetime | None:
    """A file's modification time as a date; None for one no date can hold (`touch -d` far into
    the future, or a file system's garbage): the file is then undated, never a traceback."""
    try:
        return datetime.fromtimestamp(int(mtime), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def article_of(data: bytes, path: str, written: datetime | None) -> StoredArticle:
    """The article in an output file's bytes (`path`: its place in the folder, whose suffix says
    its format); NotAnArticle if they hold none."""
    try:
        text = data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise NotAnArticle("not UTF-8 text") from None
    document, markdown = _json_document(text) if path.endswith(SUFFIXES["json"]) else _markdown_document(text)
    identity = document.get("id")
    if not isinstance(identity, str) or not identity.strip():
        raise NotAnArticle("no id")
    source = document.get("source")
    if source is not None and not isinstance(source, dict):
        raise NotAnArticle("source is not a name and a domain")
    source = source or {}
    return StoredArticle(
        id=identity.strip(),
        title=_text(document, "title"),
        url=_text(document, "url"),
        source_name=_text(source, "name"),
        source_domain=_text(source, "domain"),
        published=_moment(document, "published"),
        fetched=_moment(document, "fetched"),
        language=_text(document, "language"),
        rights=_text(document, "rights"),
        markdown=markdown,
        path=path,
        written=written,
    )


def _json_document(text: str) -> tuple[dict[str, Any], str]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise NotAnArticle("not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("markdown"), str):
        raise NotAnArticle("no article object with its markdown")
    return document, document["markdown"]


def _markdown_document(text: str) -> tuple[dict[str, Any], str]:
    """The front matter and the body of an .md output (`---`, YAML, `---`, then the Markdown)."""
    import yaml  # here: only the feed reads YAML, and only from .md outputs

    if not text.startswith(_FRONT_MATTER_START):
        raise NotAnArticle("no front matter")
    end = text.find(_FRONT_MATTER_END, len(_FRONT_MATTER_START) - 1)
    if end < 0:
        if not text.endswith(_FRONT_MATTER_END.rstrip("\n")):
            raise NotAnArticle("front matter without its closing ---")
        end = len(text) - len(_FRONT_MATTER_END) + 1
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        document = yaml.load(text[len(_FRONT_MATTER_START) : end], Loader=loader)
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):  # a bare date like 2024-13-45 is a ValueError
        raise NotAnArticle("front matter is not YAML") from None
    if not isinstance(document, dict):
        raise NotAnArticle("front matter is not a mapping")
    return document, text[end + len(_FRONT_MATTER_END) :]


def _text(mapping: dict[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    if value is not None and not isinstance(value, str):
        raise NotAnArticle(f"{key} is not text")
    return value


def _moment(mapping: dict[str, Any], key: str) -> datetime | None:
    """A date as convert writes it (ISO 8601 with an offset), or as YAML reads one written bare;
    a date without a time or an offset is taken as midnight or UTC."""
    value = mapping.get(key)
    if value is None or isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise NotAnArticle(f"{key} is not a date") from None
    else:
        raise NotAnArticle(f"{key} is not a date")
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)  # what sorting compares: year 1 at +02:00 is none
    except OverflowError:
        raise NotAnArticle(f"{key} is out of range") from None
    return moment
