"""Hostile feed HTML must leave no active content in any output.

Every vector in tests/cases/hostile.yaml (gathered from public sanitizer suites
and XSS cheat sheets) is converted alone, after a normal paragraph, inside a
<p>, and in a bare fragment with no article URL, to Markdown and to JSON. feedclean emits no HTML itself, but its Markdown
is rendered by site generators that pass raw HTML through, so the checks are:

- the Markdown rendered with raw HTML on, by markdown-it (CommonMark, the GFM-like
  preset with tables/strikethrough/linkify, and CommonMark with markdown-it's own
  link-scheme blacklist switched off, so that blacklist cannot hide a leak), by
  cmark-gfm (GitHub's renderer, with its table and autolink extensions) and by
  mistune, holds no active element, no event handler, no style, no URL with an
  unsafe scheme, and no image that is not one of the article's;
- the raw Markdown, read the way any CommonMark renderer would, holds no
  unescaped `<` that opens a tag or autolink and no link destination or
  reference definition with an unsafe scheme (renderers other than markdown-it
  refuse fewer schemes);
- the JSON's URL fields have safe schemes, and its markdown is the .md body;
- the YAML front matter still parses.

An InputError (nothing left worth converting) is a safe outcome; any other
exception is a failure.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import unquote

import cmarkgfm
import lxml.html
import mistune
import pytest
from conftest import load_cases, make_dump, split_front_matter
from markdown_it import MarkdownIt

import feedclean

PLACEMENTS = {
    "alone": "{}",
    "after-paragraph": "<p>The minister spoke to reporters on Tuesday morning.</p>\n{}",
    "in-paragraph": "<p>Our correspondent reports: {} The story continues here.</p>",
}

SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel", "ftp"})
ACTIVE_ELEMENTS = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "param",
        "form", "input", "button", "textarea", "select", "isindex", "keygen", "meta", "link",
        "base", "svg", "math", "template", "noscript", "bgsound", "portal",
    }
)  # fmt: skip
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "srcset", "background", "poster", "data", "lowsrc", "dynsrc", "codebase", "cite"}
)


def _trusting_commonmark() -> MarkdownIt:
    """CommonMark with raw HTML and every link scheme allowed, as the least careful renderers behave."""
    renderer = MarkdownIt("commonmark", {"html": True})
    renderer.validateLink = lambda url: True
    return renderer


def _cmark_gfm(markdown: str) -> str:
    """GitHub's renderer with its extensions (tables, autolinks) and raw HTML passed through."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE)


class _Renderer:
    """Anything with a render(markdown) method, from a plain function."""

    def __init__(self, render) -> None:
        self.render = render


RENDERERS = {
    "commonmark": MarkdownIt("commonmark", {"html": True}),
    "gfm-like": MarkdownIt("gfm-like", {"html": True}).enable(["table", "strikethrough", "linkify"]),
    "commonmark-any-scheme": _trusting_commonmark(),
    "cmark-gfm-unsafe": _Renderer(_cmark_gfm),
    "mistune": _Renderer(mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])),
}

# Browsers drop tabs and newlines anywhere in a URL and C0 controls and spaces at its ends.
_URL_INVISIBLES = re.compile(r"[\t\n\r]")
_URL_EDGES = "".join(chr(code) for code in range(0x21))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_CONTROLS_AND_SPACE = re.compile(r"[\x00-\x20\x7f]")
_BACKSLASH_ESCAPE = re.compile(r"\\(.)")

# Markdown syntax that only counts when not backslash-escaped: an even run of
# backslashes (escaped backslashes) may precede it, an odd one escapes it.
_UNESCAPED = r"(?:^|(?<=[^\\]))(?:\\\\)*"
_TAG_OR_AUTOLINK = re.compile(_UNESCAPED + r"(<[A-Za-z/!?][^\n]{0,60})", re.M)
_INLINE_DESTINATION = re.compile(_UNESCAPED + r"\]\(\s*<?((?:\\.|[^\s()<>\\])*)", re.M)
_REFERENCE_DEFINITION = re.compile(r"^[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*\[(?:\\.|[^\\\]])+\]:[ \t]*<?(\S*)", re.M)
_BACKTICKS = re.compile(r"`+")


# The YAML vectors sit in the body; these put hostile values where the
# metadata comes from: the dump header and a whole page's canonical/OpenGraph.
_HOSTILE_PAGE = (
    "<!doctype html><html><head><title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"
    '<link rel="canonical" href="javascript:alert(1)"><meta property="og:url" content="javascript:alert(2)">'
    '<meta property="og:image" content="javascript:alert(3)"></head><body><article>'
    "<p>The body of the article, long enough for readability to keep it as the content.</p>"
    "</article></body></html>"
)
HEADERS = {
    "header-title-markup-javascript-url": make_dump(
        "<p>Body text.</p>", title="<script>alert(1)</script> [x](javascript:alert(1))", url="javascript:alert(1)"
    ),
    "header-data-url": make_dump("<p>Body text.</p>", url="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
    "header-url-with-markup": make_dump("<p>Body text.</p>", url='https://example.com/a?x="><script>alert(1)</script>'),
    "bare-page-hostile-canonical": _HOSTILE_PAGE,
    "page-under-javascript-header": make_dump(_HOSTILE_PAGE, url="javascript:alert(1)"),
}


def _cases() -> list:
    return [pytest.param(case, id=case["name"]) for case in load_cases("hostile.yaml")]


@pytest.mark.parametrize("placement", [*PLACEMENTS, "no-article-url"])
@pytest.mark.parametrize("case", _cases())
def test_no_active_content_survives(case: dict, placement: str) -> None:
    if placement == "no-article-url":  # a bare fragment: relative URLs have nothing to resolve against
        data = f"<p>The minister spoke to reporters.</p>\n{case['body']}".encode()
    else:
        data = make_dump(PLACEMENTS[placement].format(case["body"])).encode("utf-8")
    problems = _output_problems(data)
    assert not problems, "\n".join([f"origin: {case['origin']}", *problems])


@pytest.mark.parametrize("dump", HEADERS.values(), ids=HEADERS.keys())
def test_hostile_metadata_leaves_no_unsafe_url(dump: str) -> None:
    problems = _output_problems(dump.encode("utf-8"))
    assert not problems, "\n".join(problems)


def _output_problems(data: bytes) -> list[str]:
    """Everything unsafe in the .md and .json made from `data`; nothing when it is refused as input."""
    try:
        markdown = feedclean.convert_bytes(data, "md")
        document = json.loads(feedclean.convert_bytes(data, "json"))
    except feedclean.InputError:
        return []
    front, body = split_front_matter(markdown)
    problems = [] if isinstance(front, dict) else ["the front matter is not a YAML mapping"]
    if document["markdown"] != body.rstrip("\n"):
        problems.append("the JSON markdown differs from the .md body")
    problems += _markdown_problems(body) + _json_problems(document)
    images = {image["url"] for image in document["images"]}
    for name, renderer in RENDERERS.items():
        rendered = renderer.render(body)
        problems += [f"{name}: {problem}" for problem in _html_problems(rendered)]
        problems += [f"{name}: {problem}" for problem in _stray_images(rendered, images)]
    return [*problems, "--- markdown ---", body] if problems else []


def _html_problems(rendered: str) -> list[str]:
    """Active elements, handlers, styles and unsafe URLs in HTML as a browser would parse it."""
    problems = []
    for element in lxml.html.fragment_fromstring(rendered, create_parent="div").iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower().rpartition(":")[2]
        if tag in ACTIVE_ELEMENTS:
            problems.append(f"<{element.tag}> element")
        for name, value in element.attrib.items():
            local = name.lower().rpartition(":")[2]
            if local.startswith("on") or local == "style":
                problems.append(f"<{element.tag} {name}={value!r}>")
            elif local in URL_ATTRIBUTES:
                problems += [f"<{element.tag} {name}={url!r}>" for url in _urls_of(local, value) if not _is_safe_url(url)]
    return problems


def _stray_images(rendered: str, images: set[str]) -> list[str]:
    """Images in the rendering that are not the article's: a link turned into an image loads by itself."""
    root = lxml.html.fragment_fromstring(rendered, create_parent="div")
    known = {unquote(html.unescape(url)) for url in images}
    # mistune puts "#harmful-link" where it distrusts a URL: inert.
    sources = [element.get("src") or "" for element in root.iter("img") if element.get("src") != "#harmful-link"]
    return [f"<img src={src!r}> is no image of the article" for src in sources if unquote(html.unescape(src)) not in known]


def _urls_of(attribute: str, value: str) -> list[str]:
    """The URLs an attribute holds: one, or a srcset's candidate URLs."""
    if attribute != "srcset":
        return [value]
    return [candidate.split()[0] for candidate in value.split(",") if candidate.split()]


def _is_safe_url(url: str) -> bool:
    """Whether `url`, read as a browser reads an attribute, is relative or has a safe scheme."""
    url = _URL_INVISIBLES.sub("", html.unescape(url)).strip(_URL_EDGES)
    match = _SCHEME.match(url)
    return match is None or match.group(1).lower() in SAFE_SCHEMES


def _markdown_problems(markdown: str) -> list[str]:
    """Raw HTML and unsafe link destinations in the Markdown text itself, outside code."""
    problems = []
    prose = _prose(markdown)
    problems += [f"unescaped markup in Markdown: {match.group(1)!r}" for match in _TAG_OR_AUTOLINK.finditer(prose)]
    for pattern in (_INLINE_DESTINATION, _REFERENCE_DEFINITION):
        for match in pattern.finditer(prose):
            if not _is_safe_destination(match.group(1)):
                problems.append(f"unsafe link destination in Markdown: {match.group(0).strip()!r}")
    return problems


def _is_safe_destination(destination: str) -> bool:
    """Whether a Markdown destination is safe however a renderer decodes it.

    Backslash escapes and entities are decoded as CommonMark does; percent
    escapes, case and every control or space are normalised away as well, so
    no spelling of a scheme can slip past.
    """
    decoded = unquote(html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", destination)))
    return _is_safe_url(_CONTROLS_AND_SPACE.sub("", decoded))


def _prose(markdown: str) -> str:
    """The Markdown with code blocks and code spans blanked: markup inside them is inert text."""
    lines = markdown.split("\n")
    for token in RENDERERS["commonmark"].parse(markdown):
        if token.type in ("fence", "code_block") and token.map:
            start, end = token.map
            lines[start:end] = [""] * (end - start)
    return "\n\n".join(_without_code_spans(block) for block in re.split(r"\n[ \t>]*\n", "\n".join(lines)))


def _without_code_spans(block: str) -> str:
    """Blank CommonMark code spans (a backtick run closed by one of the same length) in one block."""
    pieces = []
    position = 0
    while position < len(block):
        char = block[position]
        if char == "\\":
            pieces.append(block[position : position + 2])
            position += 2
            continue
        if char == "`":
            opener = _BACKTICKS.match(block, position).group()
            closer = re.compile(rf"(?<!`){opener}(?!`)").search(block, position + len(opener))
            if closer is not None:
                pieces.append(" ")
                position = closer.end()
                continue
            pieces.append(opener)
            position += len(opener)
            continue
        pieces.append(char)
        position += 1
    return "".join(pieces)


def _json_problems(document: dict) -> list[str]:
    """Unsafe schemes in the JSON fields a pipeline would use as URLs."""
    urls = [("url", document.get("url"))]
    urls += [(f"images[{index}].url", image.get("url")) for index, image in enumerate(document.get("images") or [])]
    return [f"JSON {field}: {url!r}" for field, url in urls if url is not None and not _is_safe_url(url)]
