"""Hostile dumps and output checks shared by tests/test_properties.py and scripts/fuzz.py.

Both draw their inputs from the same generators so that a crash the long fuzz
run finds is one the CI property tests can reach (and shrink). The generators
take their decisions from a `Chooser`: hypothesis backs it with `draw`, so
failures shrink; the fuzz script backs it with `random.Random`, so a run is
fast and reproducible from its seed.

The checks encode what feedclean promises for every input: it converts or
raises InputError with a one-line message; the Markdown is YAML front matter
plus a CommonMark body with no raw HTML and no active content; the JSON
carries the same metadata and body; the output is a pure function of the input.
"""

from __future__ import annotations

import html
import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import cmarkgfm
import mistune
import yaml
from lxml import etree
from markdown_it import MarkdownIt

import feedclean
from feedclean import process_all
from feedclean.render import render

T = TypeVar("T")

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

FRONT_KEYS = ("title", "id", "url", "source", "published", "fetched", "language", "lead", "images", "rights")
JSON_KEYS = ("schema", *FRONT_KEYS, "markdown", "text")
# Schemes a rendered link or image may point to; relative URLs are fine too.
SAFE_LINK_SCHEMES = frozenset({"http", "https", "mailto", "ftp", "tel"})
SAFE_IMAGE_SCHEMES = frozenset({"http", "https"})
# "Words" the text round-trip follows: alphanumeric runs, as a reader would search for them.
WORD = re.compile(r"[^\W_]{3,}")


class Chooser(Protocol):
    """Where a generator's decisions come from (hypothesis' draw, or a seeded Random)."""

    def integer(self, low: int, high: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...

    def blob(self, max_size: int) -> bytes: ...

    def repeat(self, low: int, high: int) -> Iterable[int]:
        """How many times to do something: iterate over the result."""
        ...


class RandomChooser:
    """A Chooser over `random.Random`, for the fuzz script."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def blob(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))

    def repeat(self, low: int, high: int) -> Iterable[int]:
        return range(self.rng.randint(low, high))


def chance(c: Chooser, percent: int) -> bool:
    return c.integer(1, 100) <= percent


# ---------------------------------------------------------------------------
# Seeds: the real dumps, plus synthetic ones for what they do not show.
# ---------------------------------------------------------------------------


def dump_bytes(
    body: str, title: str = "A title", url: str = "https://example.com/news/a-1", fetch_line: str | None = None
) -> bytes:
    """A dump in the scrapers' format; `fetch_line` replaces the usual <!--ms--> line ("" drops it)."""
    header = "<!--1712180702000-->\n" if fetch_line is None else fetch_line
    return f"{header}[{title}]({url})\n------\n\n{body}".encode("utf-8", "surrogatepass")


SYNTHETIC_SEEDS = (
    # English article with a share block, a feedx footer, a proxied image and a tracker.
    dump_bytes(
        "<div>2024-04-03T10:00:00Z</div><p><strong>The lead paragraph says what happened today.</strong></p>"
        '<figure><img src="https://wsrv.nl/?w=800&url=ssl:cdn.example.com/a.jpg"><figcaption>A caption</figcaption></figure>'
        '<p>Body text with <a href="/rel?utm_source=x">a link</a> and <em>emphasis</em>.</p>'
        '<div class="share">Share this: <a href="https://www.facebook.com/sharer/sharer.php?u=x">Facebook</a>'
        '<a href="https://twitter.com/intent/tweet?url=x">X</a></div>'
        '<img src="https://pixel.wp.com/g.gif" width="1" height="1"><script>alert(1)</script>'
        "<p>© 2024 Example News. All rights reserved.</p><br><hr><div>获取更多RSS：<br>"
        '<a href="https://feedx.net">https://feedx.net</a></div>',
        title='An "English" title: with [brackets] #1',
        url="https://www.example.com/news/story?utm_medium=rss&id=7",
    ),
    # A whole web page instead of the feed's fragment (goes through readability).
    dump_bytes(
        '<!DOCTYPE html><html lang="en"><head><title>Page title</title>'
        '<meta property="og:title" content="OG title"><link rel="canonical" href="https://example.org/c">'
        '</head><body><nav><a href="/">Home</a></nav><article><h1>Page title</h1>'
        "<p>First paragraph of a long article body that readability should keep in full.</p>"
        "<p>Second paragraph, with more words so the article is clearly the main content.</p>"
        "</article><footer>Footer links</footer></body></html>",
        fetch_line="",
    ),
    # Bare HTML, no header at all, with lists, a table, code and a quote.
    b'<h2>Heading *not* emphasis</h2><ul><li>one</li><li>two<ol start="3"><li>three</li></ol></li></ul>'
    b'<table><tr><th>a|b</th><th>c</th></tr><tr><td colspan="2">d</td></tr></table>'
    b"<pre class=\"language-python\"><code>print('```')</code></pre><blockquote><p>quoted &amp; &lt;b&gt;</p></blockquote>",
    # Traditional Chinese saved as Big5 by an old scraper, CRLF line ends.
    "<!--1689212825000-->\r\n[北約領袖：「合作」](https://www.dw.com/zh/a-66207247)\r\n------\r\n\r\n"
    "<div><i><br>2023-07-13T01:42:18.724Z</i></div><p>北約秘書長斯托爾滕貝格表示，雙方將加強合作。</p>"
    '<p><a href="https://api.dw.com/api/detail/article/65582973" rel="ArticleRef">相關報導</a></p>'.encode("big5"),
    # Simplified Chinese as GB18030 with a date line in Paris time and a UTF-8 BOM-less header.
    "<!--1712180702000-->\n[中国与欧盟举行会议](https://www.rfi.fr/cn/x-1)\n------\n\n<div>03/04/2024 - 23:33</div>"
    "<p><strong>为期两天的会议将讨论合作问题以及未来的计划安排。</strong></p><p>正文。</p>".encode("gb18030"),
)


def seeds() -> list[bytes]:
    """Every seed a mutation may start from: the real samples first, then the synthetic ones."""
    real = [p.read_bytes() for p in sorted(SAMPLES.iterdir()) if p.is_file() and not p.name.startswith(".")]
    return [*real, *SYNTHETIC_SEEDS]


# ---------------------------------------------------------------------------
# Text: words to follow, Markdown metacharacters, CJK, whitespace, hostile bits.
# ---------------------------------------------------------------------------

# Where GFM's extended autolinks start (and e-mail addresses, which they find in text only).
URL_LIKE = (
    "http://x/", "https://example.com/a_b", "www.x.com", "WWW.X.COM/", "ftp://x.y", "HTTPS://X.Y/", "foo@bar.com",
    "mailto:foo@bar.com", "://", "www.", "http:",
)  # fmt: skip
# What a code span holds when its backtick is eaten: raw HTML, live once the span is gone.
CODE_PAYLOADS = ("<img src=x onerror=alert(1)>", "<b>bold</b>", "<script>alert(1)</script>", "`<i>x</i>`", "<a href=x>")
# Letters-only words: a digits-only block could legitimately leave the body as a date line.
WORDS = (
    "alpha", "beta", "gamma", "news", "world", "markdown", "feed", "café", "naïve", "Straße", "Ωmega", "x86y",
    "données", "北约与亚太", "中華民國", "德國之聲", "ありがとう", "한국어", "Москва", "العربية",
)  # fmt: skip
MARKUP = (
    "*", "_", "[", "]", "(", ")", "<", ">", "#", "!", "|", "~", "\\", "`", "&", "**", "__", "***", "[x](y)", "![a](b)",
    "<b>", "</p>", "&amp;", "&copy;", "&#65;", "1.", "1)", "- ", "+ ", "> ", "# ", "###### ", "```", "~~~", "---", "===",
    "<http://x.y>", "*a*", "_b_", "\\*", "[^1]", "<!--", "-->", "<script>", "javascript:alert(1)", " onload=x ", "$$",
)  # fmt: skip
CJK_PUNCTUATION = ("，", "。", "「", "」", "《", "》", "！", "？", "：", "；", "（", "）", "【", "】", "、", "——", "…", "“", "”")
SPACES = (" ", " ", " ", "  ", "\n", "\t", "\xa0", "\u3000", "\n\n", " \n ")
HOSTILE_CHARS = (
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff",
    "\u200b", "\u200e", "\u202e", "\ud800", "\udfff", "\U0001f600", "\u0301", "\r", "\r\n",
)  # fmt: skip


def random_char(c: Chooser, hostile: bool) -> str:
    """One code point; printable letters, digits, punctuation or symbols unless `hostile`."""
    while True:
        char = chr(c.integer(0x20, 0x10FFFF if hostile else 0x2FFFF))
        if hostile or unicodedata.category(char)[0] in "LNPS":
            return char


def random_text(c: Chooser, max_pieces: int = 12, hostile: bool = False) -> str:
    """Text built from pieces; without `hostile`, nothing an HTML parser or decoder would drop, and no
    URL-like word (feedclean ends one with a space before a code span, which splits a word)."""
    kinds = ("word", "space", "markup", "cjk", "char")
    if hostile:
        kinds += ("hostile", "url")
    pieces = []
    for _ in c.repeat(0, max_pieces):
        kind = c.choice(kinds)
        if kind == "word":
            pieces.append(c.choice(WORDS))
        elif kind == "space":
            pieces.append(c.choice(SPACES))
        elif kind == "markup":
            pieces.append(c.choice(MARKUP))
        elif kind == "cjk":
            pieces.append(c.choice(CJK_PUNCTUATION))
        elif kind == "char":
            pieces.append(random_char(c, hostile))
        elif kind == "url":
            pieces.append(c.choice(URL_LIKE))
        else:
            pieces.append(c.choice(HOSTILE_CHARS))
    return "".join(pieces)


# ---------------------------------------------------------------------------
# HTML bodies from a grammar of tags.
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fragment:
    """Generated HTML and the text a browser shows for it (removed elements' text excluded)."""

    html: str
    visible: str


SAFE_HREFS = (
    "https://example.com/page", "/relative/path?q=1&utm_source=rss", "#top", "other.html", "javascript:alert(1)",
    "mailto:someone@example.com", "https://example.com/a_(b)", "https://例子.测试/路径", "  https://example.com/spaced  ",
    "https://images.weserv.nl/?url=example.com/big.jpg",
)  # fmt: skip
SAFE_SRCS = (
    "https://example.com/a.jpg", "/img/b.png", "//cdn.example.com/c.webp", "https://images.weserv.nl/?url=ssl:example.com/d.jpg",
    "data:image/png;base64,iVBORw0KGgo=", "javascript:alert(1)", "", "https://wsrv.nl/?url=https%3A%2F%2Fexample.com%2Fe.jpg&w=300",
)  # fmt: skip
HOSTILE_HREFS = (
    "https://www.facebook.com/sharer/sharer.php?u=x", "https://twitter.com/intent/tweet?text=x", "whatsapp://send?text=x",
    "mailto:?subject=x", "https://feedx.net", "https://api.dw.com/api/detail/article/123", "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)", "\x01javascript:alert(1)", "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>",
    "http://[::1", "https://%zz", "https://example.com/" + "a" * 3000, "", "tel:+1 (555) 000", "file:///etc/passwd",
)  # fmt: skip
HOSTILE_ATTRIBUTES = (
    ' onclick="alert(1)"', " onerror=alert(1)", ' ONLOAD="x"', ' style="display:none"', ' class="share social"',
    " data-selfpromo-newsletter", ' width="1" height="1"', ' srcset="https://example.com/s.jpg 2x, /t.jpg 800w"',
    ' data-src="https://example.com/lazy.jpg"', ' lang="zh-Hant"', ' title="a &quot;title&quot;"', ' id="x"', " hidden",
    ' href="javascript:void(0)"', ' src="https://pixel.wp.com/g.gif"', ' colspan="9999999999"', ' start="-5"',
    ' style="x:expression(alert(1))"', " =bare", ' a"b=c',
)  # fmt: skip
REMOVED_TAGS = ("script", "style", "iframe", "noscript", "object", "template", "button", "svg", "textarea")


def html_body(c: Chooser, hostile: bool = False, max_blocks: int = 6) -> Fragment:
    """A body of blocks; unless `hostile`, well-formed, so every visible word must reach the output."""
    return _join([_block(c, 0, hostile) for _ in c.repeat(1, max_blocks)])


def _join(fragments: list[Fragment]) -> Fragment:
    return Fragment("".join(f.html for f in fragments), "".join(f.visible for f in fragments))


def _text(c: Chooser, hostile: bool) -> Fragment:
    text = random_text(c, 8, hostile)
    return Fragment(html.escape(text, quote=False), text)


def _wrap(tag: str, inner: Fragment, attributes: str = "", block: bool = False) -> Fragment:
    separator = "\n" if block else ""
    return Fragment(f"<{tag}{attributes}>{inner.html}</{tag}>", separator + inner.visible + separator)


def _attributes(c: Chooser, hostile: bool) -> str:
    if not hostile or not chance(c, 30):
        return ""
    return "".join(c.choice(HOSTILE_ATTRIBUTES) for _ in c.repeat(1, 3))


def _removed(c: Chooser, hostile: bool) -> Fragment:
    """An element whose content never reaches the output: its words are not expected."""
    tag = c.choice(REMOVED_TAGS)
    inner = random_text(c, 6, hostile)
    return Fragment(f"<{tag}>{html.escape(inner, quote=False)}</{tag}>", " ")


def _inlines(c: Chooser, depth: int, hostile: bool, in_link: bool = False, count: int = 4) -> Fragment:
    return _join([_inline(c, depth + 1, hostile, in_link) for _ in c.repeat(1, count)])


def _inline(c: Chooser, depth: int, hostile: bool, in_link: bool = False) -> Fragment:
    kinds = ["text", "text", "span", "em", "strong", "code", "img", "br", "removed"]
    if not in_link:
        kinds.append("a")
    if hostile:
        kinds.extend(["raw", "unclosed", "autolink"])
    kind = c.choice(kinds) if depth < 5 else "text"
    attributes = _attributes(c, hostile)
    if kind == "text":
        return _text(c, hostile)
    if kind in ("span", "em", "strong"):
        tag = {"span": "span", "em": c.choice(("em", "i")), "strong": c.choice(("strong", "b"))}[kind]
        return _wrap(tag, _inlines(c, depth, hostile, in_link), attributes)
    if kind == "code":
        return _wrap("code", _text(c, hostile), attributes)
    if kind == "a":
        href = c.choice(HOSTILE_HREFS + SAFE_HREFS if hostile else SAFE_HREFS)
        return _wrap("a", _inlines(c, depth, hostile, in_link=True), f' href="{html.escape(href)}"{attributes}')
    if kind == "img":
        src = html.escape(c.choice(SAFE_SRCS))
        alt = html.escape(random_text(c, 4, hostile))
        return Fragment(f'<img src="{src}" alt="{alt}"{attributes}>', "")
    if kind == "br":
        return Fragment("<br>", "\n")
    if kind == "removed":
        return _removed(c, hostile)
    if kind == "raw":
        return Fragment(c.choice(HTML_SNIPPETS), "")
    if kind == "autolink":
        return autolink_neighbour(c, in_link)
    return Fragment(f"<{c.choice(('span', 'a href=x', 'em', 'p', 'div', 'b'))}{attributes}>", "")


def autolink_neighbour(c: Chooser, in_link: bool = False) -> Fragment:
    """URL-like text right against a code span holding raw HTML, a link, an image or a break,
    sometimes with emphasis between: an autolink running on would swallow their delimiter."""
    url = c.choice(URL_LIKE)
    kinds = ["code", "code", "img", "br"] if in_link else ["code", "code", "a", "img", "br"]
    kind = c.choice(kinds)
    if kind == "code":
        payload = c.choice(CODE_PAYLOADS)
        neighbour = _wrap("code", Fragment(html.escape(payload), payload))
    elif kind == "a":
        neighbour = _wrap("a", _wrap("code", Fragment(html.escape(c.choice(CODE_PAYLOADS)), "")), ' href="https://example.org/"')
    elif kind == "img":
        neighbour = Fragment('<img src="https://example.com/i.png" alt="i">', "")
    else:
        neighbour = Fragment("<br>", "\n")
    if chance(c, 30):
        tag = c.choice(("b", "em", "span"))
        if chance(c, 50):
            return _join([_wrap(tag, Fragment(url, url)), neighbour])
        return _join([Fragment(url, url), _wrap(tag, neighbour)])
    return _join([Fragment(url, url), neighbour])


def _block(c: Chooser, depth: int, hostile: bool) -> Fragment:
    kinds = ["p", "p", "div", "h", "ul", "table", "blockquote", "pre", "figure", "hr", "removed"]
    kind = c.choice(kinds) if depth < 4 else "p"
    attributes = _attributes(c, hostile)
    if kind == "p":
        return _wrap("p", _inlines(c, depth, hostile), attributes, block=True)
    if kind == "div":
        children = [_block(c, depth + 1, hostile) if chance(c, 50) else _inline(c, depth + 1, hostile) for _ in c.repeat(1, 4)]
        return _wrap("div", _join(children), attributes, block=True)
    if kind == "h":
        return _wrap(f"h{c.integer(1, 6)}", _inlines(c, depth, hostile), attributes, block=True)
    if kind == "ul":
        items = [_wrap("li", _item(c, depth, hostile), block=True) for _ in c.repeat(1, 4)]
        return _wrap(c.choice(("ul", "ol")), _join(items), attributes, block=True)
    if kind == "table":
        rows = []
        for _ in c.repeat(1, 3):
            cells = [_wrap(c.choice(("td", "th")), _item(c, depth, hostile), block=True) for _ in c.repeat(1, 3)]
            rows.append(_wrap("tr", _join(cells), block=True))
        return _wrap("table", _join(rows), attributes, block=True)
    if kind == "blockquote":
        return _wrap("blockquote", _join([_block(c, depth + 1, hostile) for _ in c.repeat(1, 3)]), attributes, block=True)
    if kind == "pre":
        return _wrap("pre", _text(c, hostile), attributes, block=True)
    if kind == "figure":
        image = _inline(c, 5, hostile) if hostile else Fragment(f'<img src="{html.escape(c.choice(SAFE_SRCS))}">', "")
        caption = _wrap("figcaption", _inlines(c, depth, hostile), block=True)
        return _wrap("figure", _join([image, caption]), attributes, block=True)
    if kind == "hr":
        return Fragment("<hr>", "\n")
    return _removed(c, hostile)


def _item(c: Chooser, depth: int, hostile: bool) -> Fragment:
    """The content of a list item or table cell: inline content, sometimes a block."""
    if chance(c, 25):
        return _block(c, depth + 1, hostile)
    return _inlines(c, depth, hostile)


def expected_words(fragment: Fragment) -> set[str]:
    return set(WORD.findall(fragment.visible))


# ---------------------------------------------------------------------------
# Headers: titles, URLs and fetch lines that real scrapers (and broken ones) write.
# ---------------------------------------------------------------------------

TITLE_PIECES = (
    "Title", "北約領袖", '"', "'", ":", ": ", "#", " #", "[", "]", "](", "(", ")", "\\[", "\\]", "\n", "\r", "\t", "\x00",
    "\x07", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "---", "- ", "? ", "{", "}", "%", "@", "`", "*", "!", "|", ">",
    "&amp;", "&lt;b&gt;", "<b>", "</i>", "<script>x</script>", "null", "true", "~", "yes", "1e3", "0x1F", "\U0001f600",
    "\\", "\\n", "\"'\"", "...", " ", "&#0;", "&#xD800;", "&bogus;",
)  # fmt: skip
URLS = (
    "https://example.com/news/a-1", "https://www.dw.com/zh/x/a-66207247", "https://www.rfi.fr/cn/x-20240403",
    "http://例子.测试/路径?q=1", "", "javascript:alert(1)", "/relative", "https://example.com/a?utm_source=x&id=1#frag",
    "https://user:pw@host:99999/", "https://[::1]:80/", "https://exa mple.com/", "http://%zz", "mailto:x@y",
    "https://example.com/" + "a" * 5000, "https://images.weserv.nl/?url=example.com/x", "https://example.com/a)b",
    "https://example.com/(a)", "ftp://example.com/f", "https://xn--fsq.com/", "HTTPS://EXAMPLE.COM/UPPER",
)  # fmt: skip
FETCH_LINES = (
    "<!--1712180702000-->\n", "", "<!--0-->\n", "<!--99999999999999999999-->\n", "<!-- 1712180702 -->\n",
    "<!--1712180702000\n", "<!--abc-->\n", "<!---1-->\n", "<!--253402300800000-->\n", "<!--999999999999-->\n",
    "<!--1712180702000-->\n\n\n", "<!--1-->\n", "<!--4102444800000-->\n",
)  # fmt: skip


def random_title(c: Chooser) -> str:
    return "".join(c.choice(TITLE_PIECES) for _ in c.repeat(0, 8))


FEED_DATES = ("Wed, 03 Apr 2024 21:45:02 GMT", "2024-04-03T23:33:00+02:00", "", "yesterday", "Wed, 31 Feb 2024 99:99:99 XYZ")


def random_feed(c: Chooser) -> bytes:
    """An RSS 2.0, RSS 1.0 (RDF) or Atom file whose items carry generated bodies, escaped or in CDATA."""
    items = []
    for _ in c.repeat(0, 3):
        body = html_body(c, hostile=chance(c, 50), max_blocks=3).html
        content = f"<![CDATA[{body.replace(']]>', ']]]]><![CDATA[>')}]]>" if chance(c, 50) else html.escape(body)
        title, link, date = html.escape(random_title(c)), html.escape(c.choice(URLS)), c.choice(FEED_DATES)
        items.append((title, link, date, content))
    kind = c.choice(("rss", "atom", "rdf"))
    if kind == "rss":
        entries = "".join(
            f"<item><title>{t}</title><link>{u}</link><pubDate>{d}</pubDate><description>{b}</description></item>"
            for t, u, d, b in items
        )
        document = f'<rss version="2.0"><channel><title>Feed</title><link>https://example.com/</link>{entries}</channel></rss>'
    elif kind == "atom":
        entries = "".join(
            f'<entry><title>{t}</title><link href="{u}"/><updated>{d}</updated><content type="html">{b}</content></entry>'
            for t, u, d, b in items
        )
        document = f'<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed</title>{entries}</feed>'
    else:
        entries = "".join(
            f"<item><title>{t}</title><link>{u}</link><description>{b}</description></item>" for t, u, _, b in items
        )
        document = (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
            f"<channel><title>Feed</title></channel>{entries}</rdf:RDF>"
        )
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + document).encode("utf-8", "surrogatepass")


def random_dump(c: Chooser) -> bytes:
    """A dump with a generated body (hostile or not) under a random header, or now and then a feed file."""
    if chance(c, 15):
        return random_feed(c)
    body = html_body(c, hostile=chance(c, 50)).html if chance(c, 80) else random_text(c, 30, hostile=True)
    return dump_bytes(body, random_title(c), c.choice(URLS), c.choice(FETCH_LINES))


# ---------------------------------------------------------------------------
# Mutations of seed dumps.
# ---------------------------------------------------------------------------

HTML_SNIPPETS = (
    "<p>", "</p>", "<div>", "</div>", "<br>", "<hr>", "<br><br>", "<span>", "</a>", "<a href=", '<a href="https://x/">',
    "<script>alert(1)</script>", "<script>", "</script>", "<style>p{}</style>", "<iframe src=//x></iframe>",
    "<img src=x onerror=alert(1)>", '<a href="javascript:alert(1)">click</a>', "<svg onload=alert(1)>",
    "<object data=x></object>", "<math><mi>x</mi></math>", "<base href=//evil/>", '<meta charset="big5">',
    "<!--", "-->", "<![CDATA[x]]>", "<?xml version='1.0'?>", "<!DOCTYPE html>", "<html><head><title>T</title></head><body>",
    "</body></html>", "<table>", "<tr><td>cell</td>", "</table>", "<pre>", "</pre>", "<code>``</code>", "<ul><li>",
    "<ol start=99999999999>", '<td colspan="999999">', "<figure><img src=/a.jpg><figcaption>cap</figcaption></figure>",
    '<a href="https://www.facebook.com/sharer/sharer.php?u=x">Share</a>', '<a href="https://feedx.net">feedx</a>',
    '<img src="https://images.weserv.nl/?url=ssl:example.com/a.jpg">', '<img srcset="a.jpg 1x, b.jpg 2x">',
    "<div data-selfpromo-newsletter></div>", "<share-button></share-button>", "<small>caption</small>",
    "<p><strong>A bold lead paragraph of some length.</strong></p>", "<div>03/04/2024 - 23:33</div>",
    "<p>© 2023 All rights reserved</p>", "<h1>", "</h1>", "<blockquote>", "<em>", "</strong>", "<wbr>", "<embed>",
    "<source>", "<noscript><p>x</p></noscript>", "<template><p>x</p></template>", "<time datetime=2024-01-01>",
    "<p>获取更多RSS：</p>", "<frameset>", "<select><option>x", "<textarea>", "<plaintext>", "<xmp>", "<listing>",
    "<a><a><a>", "<p><p><p>", "<li><li>", "<dt>term<dd>def", "<details><summary>s</summary>d</details>",
)  # fmt: skip
ENTITIES = (
    "&amp;", "&lt;", "&gt;", "&nbsp;", "&#0;", "&#x110000;", "&#xD800;", "&#65;", "&#x4e2d;", "&bogus;", "&amp",
    "&#", "&#x;", "&lt;script&gt;", "&copy;", "&#8232;", "&#x85;", "&#9999999999;", "&#x1b;]52;c;eA==&#7;", "&#x1b;[8m",
    "&#127;", "&#x0b;", "&#13;",
)  # fmt: skip
ENCODINGS = ("gb18030", "big5", "big5hkscs", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1", "shift_jis", "euc-kr")
MAX_MUTATED_BYTES = 1_000_000
NESTING_TAGS = ("div", "span", "em", "blockquote", "ul><li", "table><tr><td", "p", "a href=/x", "b", "figure", "pre", "h1", "li")


def _boundary(data: bytes, position: int) -> int:
    """Move `position` forward to a UTF-8 character boundary."""
    while position < len(data) and 0x80 <= data[position] < 0xC0:
        position += 1
    return position


def _insert(c: Chooser, data: bytes, piece: bytes) -> bytes:
    position = _boundary(data, c.integer(0, len(data)))
    return data[:position] + piece + data[position:]


def _slice(c: Chooser, data: bytes) -> tuple[int, int]:
    start = c.integer(0, len(data))
    return start, c.integer(start, min(len(data), start + 2000))


def flip_bits(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    if not data:
        return data
    mutable = bytearray(data)
    for _ in c.repeat(1, 8):
        mutable[c.integer(0, len(data) - 1)] ^= 1 << c.integer(0, 7)
    return bytes(mutable)


def truncate(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    return data[: c.integer(0, len(data))]


def splice(c: Chooser, data: bytes, pool: Sequence[bytes]) -> bytes:
    other = c.choice(pool)
    return data[: c.integer(0, len(data))] + other[c.integer(0, len(other)) :]


def duplicate_slice(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    start, end = _slice(c, data)
    return _insert(c, data, data[start:end] * c.integer(1, 3))


def delete_slice(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    start, end = _slice(c, data)
    return data[:start] + data[end:]


def insert_snippet(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    pieces = [c.choice(c.choice((HTML_SNIPPETS, ENTITIES, HOSTILE_ATTRIBUTES))) for _ in c.repeat(1, 4)]
    return _insert(c, data, "".join(pieces).encode("utf-8", "surrogatepass"))


def insert_html(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    return _insert(c, data, html_body(c, hostile=True, max_blocks=3).html.encode("utf-8", "surrogatepass"))


def insert_text(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    return _insert(c, data, random_text(c, 10, hostile=True).encode("utf-8", "surrogatepass"))


def insert_bytes(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    return _insert(c, data, c.blob(16))


def reencode(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    """Save the whole dump (or, as a half-converted file, only its tail) in another encoding."""
    text = data.decode("utf-8", "replace")
    encoding = c.choice(ENCODINGS)
    if chance(c, 75):
        return text.encode(encoding, "replace")
    split = c.integer(0, len(text))
    return text[:split].encode() + text[split:].encode(encoding, "replace")


def line_ends(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    return data.replace(b"\n", c.choice((b"\r\n", b"\r", b"\n\n", b"\r\r\n")))


def add_bom(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    return c.choice((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf\xef\xbb\xbf")) + data


def leading_blank_lines(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    return c.choice((b"\n", b" \n", b"\r\n", b"\t\n", b"\xc2\xa0\n", b"\xe3\x80\x80\n")) * c.integer(1, 5) + data


def remove_header(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    marker = data.find(b"------")
    return data[marker + 6 :].lstrip(b"\r\n") if marker >= 0 else data


def replace_title(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    """Swap the header's "[title](url)" line for a random one (or add one)."""
    line = f"[{random_title(c)}]({c.choice(URLS)})".encode("utf-8", "surrogatepass")
    start = data.find(b"\n[")
    if start < 0:
        return line + b"\n------\n\n" + data
    end = data.find(b"\n", start + 1)
    return data[: start + 1] + line + (data[end:] if end >= 0 else b"")


def replace_fetch_line(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    end = data.find(b"-->")
    rest = data[end + 3 :].lstrip(b"\r\n") if data.startswith(b"<!--") and end >= 0 else data
    return c.choice(FETCH_LINES).encode() + rest


def deep_nesting(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    tag = c.choice(NESTING_TAGS)
    depth = c.integer(1, 3000)
    closing = "".join(f"</{name.split()[0]}>" for name in reversed(tag.split("><")))
    opened = f"<{tag}>" * depth
    return _insert(c, data, (opened + "deep text" + closing * c.integer(0, depth)).encode())


def huge_attribute(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    value = c.choice(("a", "%41", "&amp;", " ", '"', "é", "中")) * c.integer(1, 100_000)
    template = c.choice(
        ('<img src="https://example.com/{}">', '<a href="{}">x</a>', '<p title="{}">t</p>', "<img srcset='{} 2x'>")
    )
    return _insert(c, data, template.format(value).encode())


def repeat_body(c: Chooser, data: bytes, _: Sequence[bytes]) -> bytes:
    start = data.find(b"\n\n")
    return data + data[start + 2 :] * c.integer(1, 8) if start >= 0 else data * 2


MUTATIONS: tuple[Callable[[Chooser, bytes, Sequence[bytes]], bytes], ...] = (
    flip_bits, truncate, splice, duplicate_slice, delete_slice, insert_snippet, insert_html, insert_text, insert_bytes,
    reencode, line_ends, add_bom, leading_blank_lines, remove_header, replace_title, replace_fetch_line, deep_nesting,
    huge_attribute, repeat_body,
)  # fmt: skip


def mutate(c: Chooser, pool: Sequence[bytes], max_rounds: int = 4) -> bytes:
    """A seed from `pool` put through one to `max_rounds` random mutations.

    Growth is capped at MAX_MUTATED_BYTES: larger inputs only cost time (checks
    included) without reaching new code.
    """
    data = c.choice(pool)
    for _ in c.repeat(1, max_rounds):
        data = c.choice(MUTATIONS)(c, data, pool)[:MAX_MUTATED_BYTES]
    return data


# ---------------------------------------------------------------------------
# Checks: what every output must satisfy.
# ---------------------------------------------------------------------------

_PARSER = MarkdownIt("commonmark", {"html": True})
# A renderer that trusts every link, as some do: what the body says is what a reader gets.
_PARSER.validateLink = lambda url: True
# GitHub-flavoured renderers: tables and autolinks (which run on through backslashes) change what is raw HTML.
_GFM_PARSER = MarkdownIt("gfm-like", {"html": True}).enable(["table", "strikethrough", "linkify"])
_GFM_PARSER.validateLink = lambda url: True
# mistune with its GFM plugins: its url plugin is an autolinker of its own.
_MISTUNE = mistune.create_markdown(escape=False, plugins=["url", "strikethrough", "table"])
# Every element a Markdown rendering makes (lxml adds html and body); anything else came from raw HTML.
_MARKDOWN_ELEMENTS = frozenset(
    ("html", "body", "div", "p", "a", "img", "code", "pre", "em", "strong", "del", "s", "table", "thead", "tbody", "tr", "th",
     "td", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "hr", "br")
)  # fmt: skip
# Control characters (C0 but tab and newline, DEL, C1): none may reach an output.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# cmark-gfm makes e-mail autolinks of text ("mailto:a@b.c", "xmpp:a@b.c") and takes the word
# before into the scheme ("www.mailto:a@b.c"): a scheme no browser runs, never javascript: or data:.
_CHAT_SCHEME = re.compile(r"(?:[A-Za-z0-9+.-]*\.)?(?:mailto|xmpp)", re.IGNORECASE)
_URL_EDGES = "".join(map(chr, range(0x21)))


@dataclass(frozen=True, slots=True)
class Converted:
    """Both outputs of one input, checked; one entry per article (a feed file has several)."""

    documents: list[dict]
    bodies: list[str]
    rendered: list[str]


def convert_checked(data: bytes) -> Converted | feedclean.InputError:
    """Convert `data` to both formats (twice, for determinism) and check every promise.

    A dump gives one article: an .md file and a JSON object. A feed file gives
    its articles' .md files one after another, and a JSON array. Returns the
    InputError when feedclean rejects the input; any other exception
    propagates, and broken output raises AssertionError.
    """
    try:
        markdown = feedclean.convert_bytes(data, "md")
    except feedclean.InputError as error:
        check_input_error(error)
        try:
            feedclean.convert_bytes(data, "json")
        except feedclean.InputError as again:
            assert str(again) == str(error), f"md and json rejected the input differently: {error!s} / {again!s}"
            return error
        raise AssertionError(f"md rejected the input ({error}) but json converted it") from None
    document_text = feedclean.convert_bytes(data, "json")
    assert feedclean.convert_bytes(data, "md") == markdown, "md output differs between two runs"
    assert feedclean.convert_bytes(data, "json") == document_text, "json output differs between two runs"
    articles = process_all(data)
    parsed = json.loads(document_text)
    assert document_text.endswith("\n"), "JSON output does not end with a newline"
    if isinstance(parsed, list):
        assert articles and all(a.from_feed for a in articles), "a JSON array for an input that is not a feed"
        documents = [check_document(document) for document in parsed]
    else:
        assert len(articles) == 1 and not articles[0].from_feed, "a JSON object for a feed file"
        documents = [check_document(parsed)]
    assert len(documents) == len(articles), f"{len(documents)} JSON documents for {len(articles)} articles"
    pieces = [render(article, "md") for article in articles]
    assert markdown == "\n".join(pieces), "md output is not its articles' files one after another"
    bodies, rendered = [], []
    for piece, document in zip(pieces, documents, strict=True):
        front, body = check_markdown(piece)
        assert front == {key: document[key] for key in FRONT_KEYS}, f"front matter and JSON disagree:\n{front}\n{document}"
        assert body == document["markdown"], "md body differs from JSON markdown"
        bodies.append(body)
        rendered.append(check_body(body))
    return Converted(documents, bodies, rendered)


def check_input_error(error: feedclean.InputError) -> None:
    message = str(error)
    assert message.strip(), "InputError without a message"
    assert "\n" not in message and "\r" not in message, f"InputError message is not one line: {message!r}"


def check_markdown(markdown: str) -> tuple[dict, str]:
    """Split an .md output exactly as written: "---\\n<front>\\n---\\n" then "\\n<body>\\n" if any."""
    assert markdown.startswith("---\n"), f"no front matter: {markdown[:80]!r}"
    assert not _CONTROL.search(markdown), f"control characters in the .md: {_CONTROL.findall(markdown)[:5]}"
    end = markdown.find("\n---\n", 3)
    assert end >= 0, f"front matter not closed: {markdown[:200]!r}"
    try:
        front = yaml.safe_load(markdown[4:end])
    except yaml.YAMLError as error:
        raise AssertionError(f"front matter is not YAML: {error}\n{markdown[: end + 5]}") from None
    assert isinstance(front, dict), f"front matter is not a mapping: {front!r}"
    assert tuple(front) == FRONT_KEYS, f"front matter keys: {list(front)}"
    rest = markdown[end + 5 :]
    if not rest:
        return front, ""
    assert rest.startswith("\n") and rest.endswith("\n") and rest.strip(), f"body not framed by newlines: {rest[:80]!r}"
    return front, rest[1:-1]


def check_document(document: object) -> dict:
    """One article as JSON: an object with the documented keys, in order."""
    assert isinstance(document, dict) and tuple(document) == JSON_KEYS, f"JSON keys: {str(document)[:300]}"
    assert document["schema"] == 1
    assert isinstance(document["markdown"], str) and isinstance(document["text"], str)
    _check_no_controls(document)
    return document


def _check_no_controls(value: object) -> None:
    """No string in a JSON document holds a control character (its JSON text escapes them; whoever prints it would not)."""
    if isinstance(value, str):
        assert not _CONTROL.search(value), f"control characters in a JSON value: {value[:200]!r}"
    elif isinstance(value, dict):
        for item in value.values():
            _check_no_controls(item)
    elif isinstance(value, list):
        for item in value:
            _check_no_controls(item)


def check_body(body: str) -> str:
    """Render the body as CommonMark and as GFM with autolinks (markdown-it with linkify, cmark-gfm
    with its extensions, mistune with its url plugin); none may hold raw HTML or active content.
    Returns the CommonMark HTML."""
    rendered = ""
    for parser in (_GFM_PARSER, _PARSER):
        tokens = parser.parse(body)
        raw = [t.content for t in _walk(tokens) if t.type in ("html_block", "html_inline")]
        assert not raw, f"raw HTML in the body: {raw[:3]}"
        rendered = parser.renderer.render(tokens, parser.options, {})
        _check_rendered(rendered)
    _check_rendered(cmarkgfm.github_flavored_markdown_to_html(body, options=cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE))
    _check_rendered(_MISTUNE(body))
    return rendered


def _check_rendered(rendered: str) -> None:
    assert "<script" not in rendered.lower(), "a <script> in the rendered body"
    for element in _html_root(rendered).iter():
        assert not isinstance(element.tag, str) or element.tag in _MARKDOWN_ELEMENTS, f"raw HTML <{element.tag}> rendered"
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), f"event handler {name}={value[:80]!r} on <{element.tag}>"
            if name in ("href", "src"):
                url = re.sub(r"[\t\n\r]", "", value).lstrip(_URL_EDGES)
                scheme = _SCHEME.match(url)
                allowed = SAFE_LINK_SCHEMES if name == "href" else SAFE_IMAGE_SCHEMES
                safe = scheme is None or scheme.group(1).lower() in allowed
                safe = safe or (name == "href" and _CHAT_SCHEME.fullmatch(scheme.group(1)) is not None)
                assert safe, f"unsafe {name}={value[:80]!r}"


def _html_root(rendered: str) -> etree._Element:
    return etree.fromstring(f"<div>{rendered}</div>", etree.HTMLParser())


def _walk(tokens: list) -> list:
    found = []
    for token in tokens:
        found.append(token)
        if token.children:
            found.extend(_walk(token.children))
    return found


def visible_text(rendered: str) -> str:
    """The text a reader sees in rendered HTML (image alt text included, as screen readers read it)."""
    root = _html_root(rendered)
    alts = " ".join(image.get("alt") or "" for image in root.iter("img"))
    return "".join(root.itertext()) + " " + alts
