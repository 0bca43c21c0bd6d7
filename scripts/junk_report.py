"""Measure how much junk feedclean leaves and how much real text it loses, on a corpus folder.

    python scripts/junk_report.py ../shared/corpus/wild-dev            # dumps, built-in rules
    python scripts/junk_report.py CORPUS --learn                       # plus rules `feedclean learn` writes
    python scripts/junk_report.py CORPUS --feeds                       # the feed files, item by item
    python scripts/junk_report.py CORPUS --labels labels.jsonl --show  # your own junk labels; list what is left
    python scripts/junk_report.py ../shared/corpus/wild-dev --labels benchmarks/wild-dev-junk.jsonl

A corpus folder holds dumps (in `dumps/`, else the folder itself, at any depth), and may hold
`feeds/` (whole feed files) and `items.jsonl` (one object per dump: "dump", its path inside
the corpus, "feed", "title", "link", "origlink"). Nothing from the corpus is copied anywhere.

Each input body is cut into segments as a reader sees it: the text between block boundaries
and line breaks, with the links in it. A segment is junk when the labels say so or, without
labels, when a judge written apart from feedclean's rules says so: a short segment whose
links all point at share endpoints, feed services, tag pages or the item itself, or whose
text carries a boilerplate phrase ("continue reading", "相关文章", "originally published" …).
That judge is a second opinion, deliberately blunter than the cleaner (it flags a short
paragraph that mentions a newsletter), so its figures are an estimate; labels made by reading
the items are the measure to trust.

- junk left: a junk segment whose text (or, for a segment without text, its link) is still
  anywhere in the output (body, lead, captions, rights);
- text lost: a segment of real text (four or more letters; without labels, a paragraph of 120
  or more, since the judge knows too little junk to tell for shorter ones) whose words outside
  its links are nowhere in the output;
- URLs: an article URL that still carries a tracking parameter or a redirect wrapper.
Texts are compared on their letters and digits only, after NFKC and case folding, so Markdown
escapes, punctuation and spacing do not count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from lxml import etree, html
from markdown_it import MarkdownIt

import feedclean
from feedclean.render import render
from feedclean.rules import BUILTIN

_BLOCKS = frozenset(
    (
        "address", "article", "aside", "blockquote", "body", "br", "center", "dd", "details", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
        "ol", "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul", "caption",
    )
)  # fmt: skip
_INVISIBLE = frozenset(["script", "style", "noscript", "template", "head", "title", "iframe", "object", "embed", "svg", "math"])
_SHORT = 200
_MIN_LETTERS = 4
# Without labels, only a paragraph this long counts as lost text: the judge knows too little
# junk for a shorter segment's absence to say anything.
_PARAGRAPH_LETTERS = 120

# The judge used without labels: link targets and phrases, kept apart from feedclean's rules.
_JUNK_HOSTS = (
    "feeds.feedburner.com/~ff/",
    "feedads.g.doubleclick.net/",
    "feeds.wordpress.com/1.0/go",
    "del.icio.us/post",
    "facebook.com/sharer",
    "facebook.com/share.php",
    "twitter.com/intent/",
    "twitter.com/share",
    "x.com/intent/",
    "linkedin.com/shareArticle",
    "reddit.com/submit",
    "pinterest.com/pin/create",
    "api.whatsapp.com/send",
    "t.me/share",
    "service.weibo.com/share",
    "flattr.com/",
    "digg.com/submit",
    "stumbleupon.com/submit",
    "feedx.net",
)
_TAG_PATHS = ("/tag/", "/tags/", "/category/", "/categories/", "/topics/", "/label/")
_PHRASES = (
    "continue reading",
    "read more",
    "read the rest",
    "read the full",
    "keep reading",
    "click here",
    "(more",
    "appeared first on",
    "originally published",
    "erschien zuerst",
    "est apparu en premier",
    "apareció primero",
    "apareceu primeiro",
    "publicado originalmente",
    "related:",
    "related posts",
    "related articles",
    "related stories",
    "see also",
    "more from",
    "previously on",
    "permalink",
    "post tags",
    "tags:",
    "filed under",
    "comments",
    "sponsored by",
    "patreon",
    "newsletter",
    "subscribe",
    "follow us",
    "share this",
    "learn more",
    "dismiss",
    "feed generated with",
    "delivered by feed43",
    "获取更多rss",
    "相关文章",
    "相关阅读",
    "延伸阅读",
    "推荐阅读",
    "相關文章",
    "延伸閱讀",
    "阅读全文",
    "查看全文",
    "閱讀全文",
    "微信公众号",
    "微信号",
    "扫码关注",
    "转载请",
    "原创发布",
    "原文链接",
    "查看评论",
    "客户端",
    "lire la suite",
    "weiterlesen",
    "leia mais",
    "läs mer",
)
_TRACKING = (
    "utm_",
    "fbclid",
    "gclid",
    "ito",
    "ref",
    "from",
    "source",
    "maca",
    "xtor",
    "smid",
    "cmp",
    "ns_",
    "wt_mc",
    "at_",
    "mc_",
)
_WRAPPERS = ("feedproxy.google.com/~r/", "feeds.feedburner.com/~r/", "google.com/url", "/r.html?url=", "tracking.feedpress.it/")


def fold(text: str) -> str:
    """Letters and digits only, NFKC and case-folded: what two renderings of one text share."""
    return "".join(char for char in unicodedata.normalize("NFKC", text).casefold() if char.isalnum())


@dataclass
class Segment:
    """A stretch of text a reader sees as one line, with the link targets in it."""

    text: str = ""
    links: list[str] = field(default_factory=list)
    link_text: list[str] = field(default_factory=list)


def segments(body_html: str) -> list[Segment]:
    """The input body as a reader sees it, cut at blocks and line breaks."""
    root = html.fromstring(f"<div>{body_html}</div>") if body_html.strip() else None
    found: list[Segment] = [Segment()]
    if root is None:
        return []

    def visit(element: etree._Element, link: str | None) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _INVISIBLE:
            return
        if tag in _BLOCKS:
            found.append(Segment())
        if tag == "a" and element.get("href"):
            link = element.get("href")
            found[-1].links.append(link)
            found[-1].link_text.append(element.text_content())
        if tag == "img" and element.get("src"):
            found[-1].links.append(element.get("src"))
            found[-1].text += element.get("alt") or ""
        if element.text and tag:
            found[-1].text += element.text
        for child in element:
            visit(child, link)
            if child.tail:
                found[-1].text += child.tail
        if tag in _BLOCKS:
            found.append(Segment())

    sys.setrecursionlimit(10000)
    visit(root, None)
    result = []
    for segment in found:
        segment.text = " ".join(segment.text.split())
        if segment.text or segment.links:
            result.append(segment)
    return result


def judged_junk(segment: Segment, item_url: str) -> bool:
    """The judge used without labels (see the module's docstring)."""
    if len(segment.text) > _SHORT:
        return False
    lowered = segment.text.lower()
    if any(phrase in lowered for phrase in _PHRASES):
        return True
    if not segment.links:
        return False
    item = _path_of(item_url)
    outside = fold(segment.text)
    for text in segment.link_text:
        outside = outside.replace(fold(text), "", 1)
    for link in segment.links:
        target = link.split("://", 1)[-1].lower()
        is_junk = (
            any(host in target for host in _JUNK_HOSTS)
            or any(path in target for path in _TAG_PATHS)
            or (item and _path_of(link) == item)
        )
        if not is_junk:
            return False
    return len(outside) <= 30


def _path_of(url: str) -> str:
    try:
        return urlsplit(url).path.rstrip("/") if url else ""
    except ValueError:
        return ""


@dataclass
class Tally:
    items: int = 0
    junk: int = 0
    junk_left: int = 0
    lost: int = 0
    items_losing: int = 0
    urls_wrong: int = 0
    left: list[str] = field(default_factory=list)
    lost_texts: list[str] = field(default_factory=list)
    by_dump: dict[str, list[str]] = field(default_factory=dict)


_COMMONMARK = MarkdownIt("commonmark")


def output_text(document: dict) -> str:
    """Everything a reader of the output sees, but the title: the body as CommonMark renders it
    (image descriptions included), the lead, the rights and the captions."""
    rendered = _COMMONMARK.render(document.get("markdown") or "")
    tree = html.fromstring(f"<div>{rendered}</div>")
    for image in tree.iter("img"):
        image.tail = f" {image.get('alt') or ''} {image.tail or ''}"
    parts = [tree.text_content(), document.get("lead") or "", document.get("rights") or ""]
    parts += [image.get("caption") or "" for image in document.get("images") or []]
    return "\n".join(parts)


def _kept(segment: Segment, seen: str) -> bool:
    """Whether the segment's words outside its links are all in the output, piece by piece: a
    paragraph may rightly lose a trailing read-more or tag link, never its own words."""
    rest = fold(segment.text)
    pieces = []
    for text in map(fold, segment.link_text):
        before, found, after = rest.partition(text) if text else (rest, "", "")
        if found:
            pieces.append(before)
            rest = after
    pieces.append(rest)
    return all(piece in seen for piece in pieces if len(piece) >= _MIN_LETTERS)


def fingerprint(segment: Segment) -> str:
    """A segment as a labels file may name it without holding its text: a hash of its letters
    (of its first link or image, for a segment without text)."""
    key = fold(segment.text) or ("href:" + (segment.links[0] if segment.links else ""))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def is_labelled(segment: Segment, folded: str, labels: Labels) -> bool:
    """Whether the labels name `segment` as junk: by fingerprint, or by a text it holds (or a
    long text that holds it), or for a segment without text by its link."""
    if fingerprint(segment) in labels.hashes:
        return True
    if folded:
        return any(text in folded or (len(folded) >= 2 * _MIN_LETTERS and folded in text) for text in labels.texts)
    return segment.text in labels.glyphs or any(link in segment.links for link in labels.links)


def measure_one(body: str, document: dict, item_url: str, labels: Labels | None, tally: Tally, name: str) -> list[str]:
    """Count one item's junk left and text lost; returns the fingerprints of its junk segments."""
    found: list[str] = []
    seen = fold(output_text(document))
    markdown = document.get("markdown") or ""
    losing = False
    for segment in segments(body):
        folded = fold(segment.text)
        junk = judged_junk(segment, item_url) if labels is None else is_labelled(segment, folded, labels)
        if junk:
            tally.junk += 1
            found.append(fingerprint(segment))
            still = folded in seen if folded else any(link in markdown for link in segment.links)
            if still:
                tally.junk_left += 1
                tally.left.append(f"{name}: {segment.text[:100] or segment.links[:1]}")
        elif len(folded) >= (_MIN_LETTERS if labels is not None else _PARAGRAPH_LETTERS) and not _kept(segment, seen):
            tally.lost += 1
            losing = True
            tally.lost_texts.append(f"{name}: {segment.text[:100]}")
    tally.items_losing += losing
    return found


def url_is_clean(url: str | None) -> bool:
    if not url:
        return True
    if any(wrapper in url for wrapper in _WRAPPERS):
        return False
    try:
        names = [name.lower() for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    except ValueError:
        return True
    return not any(name.startswith(_TRACKING) for name in names)


def dump_body(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    marker = "\n------\n"
    return text.split(marker, 1)[1] if marker in text[:4096] else text


def load_items(corpus: Path) -> dict[str, dict]:
    path = corpus / "items.jsonl"
    if not path.exists():
        return {}
    return {item["dump"]: item for item in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if item.get("dump")}


@dataclass
class Labels:
    """What one item's labels name as junk: texts, links (for blocks without text), fingerprints."""

    texts: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    glyphs: list[str] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)


def load_labels(path: Path | None) -> dict[str, Labels] | None:
    """Junk labels by dump: {"dump", "junk": [{"kind", "text"}]} as written by someone reading
    the items, or {"dump", "junk_hashes": [...]} as --export-labels writes them."""
    if path is None:
        return None
    labels: dict[str, Labels] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        item = labels.setdefault(record["dump"], Labels())
        for junk in record.get("junk", []):
            if junk.get("kind") in ("rights", "unsure"):
                continue
            if junk["text"].startswith("href:"):
                item.links.append(junk["text"][5:])
            elif fold(junk["text"]):
                item.texts.append(fold(junk["text"]))
            else:  # a glyph ("★"): the segment that is nothing else
                item.glyphs.append(" ".join(junk["text"].split()))
        item.hashes.update(record.get("junk_hashes", []))
    return labels


def export_labels(tallies: dict[str, Tally], path: Path) -> None:
    """Write the junk segments found, as fingerprints only: a labels file that can be shared
    beside a corpus that may not be (it holds no text of it)."""
    with path.open("w", encoding="utf-8") as out:
        for tally in tallies.values():
            for dump, hashes in tally.by_dump.items():
                out.write(json.dumps({"dump": dump, "junk_hashes": sorted(set(hashes))}) + "\n")


def dumps_of(corpus: Path) -> list[Path]:
    folder = corpus / "dumps" if (corpus / "dumps").is_dir() else corpus
    return sorted(
        path for path in folder.rglob("*") if path.is_file() and not path.name.startswith(".") and path.suffix != ".jsonl"
    )


def publisher_of(relative: str) -> str:
    parts = relative.split("/")
    return parts[1] if parts[0] == "dumps" and len(parts) > 2 else parts[0]


def measure_dumps(corpus: Path, rules, labels, tallies: dict[str, Tally], show_urls: list[str]) -> None:
    items = load_items(corpus)
    for path in dumps_of(corpus):
        relative = path.relative_to(corpus).as_posix()
        if labels is not None and relative not in labels:
            continue
        data = path.read_bytes()
        tally = tallies[publisher_of(relative)]
        tally.items += 1
        try:
            article = feedclean.process(data, relative, rules=rules)
        except feedclean.InputError as error:
            print(f"{relative}: {error}", file=sys.stderr)
            continue
        document = json.loads(render(article, "json"))
        item = items.get(relative, {})
        tally.by_dump[relative] = measure_one(
            dump_body(data), document, item.get("link") or article.url or "", _labels_of(labels, relative), tally, relative
        )
        if not url_is_clean(document.get("url")):
            tally.urls_wrong += 1
            show_urls.append(f"{relative}: {document.get('url')}")


def measure_feeds(corpus: Path, rules, labels, tallies: dict[str, Tally], show_urls: list[str]) -> None:
    """Each feed file converted whole; its items matched to their dumps (and labels) by title."""
    by_feed: dict[str, list[dict]] = defaultdict(list)
    for item in load_items(corpus).values():
        if item.get("feed"):
            by_feed[item["feed"]].append(item)
    for feed, items in sorted(by_feed.items()):
        try:
            articles = feedclean.process_all((corpus / feed).read_bytes(), feed, rules=rules)
        except feedclean.InputError as error:
            print(f"{feed}: {error}", file=sys.stderr)
            continue
        by_link = {(address, article.title): article for article in articles for address in (article.url, *article.aliases)}
        by_title = {article.title: article for article in articles}
        for item in items:
            if labels is not None and item["dump"] not in labels:
                continue
            title = feedclean.read.plain_title(item.get("title") or "")
            article = by_link.get((item.get("origlink"), title)) or by_link.get((item.get("link"), title)) or by_title.get(title)
            tally = tallies[publisher_of(item["dump"])]
            tally.items += 1
            if article is None:
                print(f"{feed}: no item titled {item.get('title')!r}", file=sys.stderr)
                continue
            document = json.loads(render(article, "json"))
            body = dump_body((corpus / item["dump"]).read_bytes())
            url = item.get("origlink") or item.get("link") or ""
            measure_one(body, document, url, _labels_of(labels, item["dump"]), tally, f"{feed} / {item['title'][:40]}")
            if not url_is_clean(document.get("url")):
                tally.urls_wrong += 1
                show_urls.append(f"{feed} / {item['title'][:40]}: {document.get('url')}")


def _labels_of(labels: dict[str, Labels] | None, dump: str) -> Labels | None:
    """The item's labels; None (the built-in judge) when no labels file was given."""
    return None if labels is None else labels.get(dump, Labels())


def learned_rules(corpus: Path, workdir: Path) -> Path:
    target = workdir / "learned.toml"
    folder = corpus / "dumps" if (corpus / "dumps").is_dir() else corpus
    subprocess.run([sys.executable, "-m", "feedclean", "learn", str(folder), "-o", str(target)], check=True)
    return target


def report(tallies: dict[str, Tally], title: str) -> str:
    lines = [
        f"## {title}",
        "",
        "| publisher | items | junk segments | junk left | text lost (segments) | items losing text | URLs not clean |",
        "|---|---|---|---|---|---|---|",
    ]
    total = Tally()
    columns = ("items", "junk", "junk_left", "lost", "items_losing", "urls_wrong")
    for name, tally in sorted(tallies.items()):
        lines.append(f"| {name} | " + " | ".join(str(getattr(tally, key)) for key in columns) + " |")
        for key in columns:
            setattr(total, key, getattr(total, key) + getattr(tally, key))
    share = f"{100 * total.junk_left / total.junk:.1f}%" if total.junk else "n/a"
    cells = [str(getattr(total, key)) for key in columns]
    cells[2] += f" ({share})"
    lines.append("| **all** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a corpus folder (dumps/, feeds/, items.jsonl) or a folder of dumps")
    parser.add_argument(
        "--labels",
        type=Path,
        help="JSON Lines of junk labels: {dump, junk: [{kind, text}]} (text 'href:URL' for a block without text)",
    )
    parser.add_argument(
        "--rules", type=Path, action="append", default=[], help="a rules file to add to the built-in rules (repeatable)"
    )
    parser.add_argument(
        "--learn", action="store_true", help="also run `feedclean learn` over the dumps and measure with its rules"
    )
    parser.add_argument("--feeds", action="store_true", help="measure the feed files in feeds/ instead of the dumps")
    parser.add_argument("--show", action="store_true", help="list each junk segment left, each text lost and each URL not clean")
    parser.add_argument(
        "--export-labels",
        type=Path,
        metavar="FILE",
        help="write the junk segments found (by --labels) as fingerprints, a labels file holding none of the corpus's text",
    )
    options = parser.parse_args()
    labels = load_labels(options.labels)
    with tempfile.TemporaryDirectory() as workdir:
        rule_files = list(options.rules)
        if options.learn:
            rule_files.append(learned_rules(options.corpus, Path(workdir)))
        rules = BUILTIN.with_files(rule_files)
        tallies: dict[str, Tally] = defaultdict(Tally)
        urls: list[str] = []
        (measure_feeds if options.feeds else measure_dumps)(options.corpus, rules, labels, tallies, urls)
    if options.export_labels:
        export_labels(tallies, options.export_labels)
    judge = f"labels from {options.labels.name}" if options.labels else "the built-in judge"
    mode = "feed files" if options.feeds else "dumps"
    rules_note = "built-in + learned rules" if options.learn else "built-in rules" + (" + given rules" if options.rules else "")
    print(report(tallies, f"{options.corpus.name}: {mode}, {rules_note}, junk by {judge}"))
    if options.show:
        for title, entries in (
            ("junk left", [e for t in tallies.values() for e in t.left]),
            ("text lost", [e for t in tallies.values() for e in t.lost_texts]),
            ("URLs not clean", urls),
        ):
            print(f"\n### {title} ({len(entries)})")
            for entry in entries:
                print(f"- {entry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
