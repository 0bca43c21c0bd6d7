"""Rendering the Markdown gives back the article's structure: lists, their numbers, quotes, code,
headings and tables nested as in the HTML (issue 11, row 17).

CommonMark reads a list item's lines in ways that are easy to get wrong: an ordered
list not starting at 1 cannot interrupt a paragraph (`intro` then `5. five` is one
paragraph), a line after a nested list is a lazy continuation of its last item,
`- ---` is a thematic break rather than an item holding one. Hypothesis generates
nested bodies; each is converted, rendered by markdown-it (GFM-like) and cmark-gfm,
and the skeleton of the result (containers, list starts, words) must be the
source's. Nesting deeper than renderers keep (markdown-it drops the text of a
tenth nested list) is written unnested, with all its text.
"""

from __future__ import annotations

import json

import cmarkgfm
import lxml.html
from conftest import make_dump
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

import feedclean

GFM = MarkdownIt("gfm-like")
COMMONMARK = MarkdownIt("commonmark")
WORDS = ("alpha", "beta", "gamma", "delta", "epsilon")
# Starts whose markers stay within the nesting budget at any depth here (at most "999. ").
STARTS = ("1", "1", "0", "2", "5", "10", "999")
# Inside a paragraph, after a line break: text that would open a block at a line start.
LINE_STARTS = ("5. x", "1) y", "- z", "> q", "# h", "w")
# Lists and quotes nested deeper than this are written unnested (feedclean.markdown._MAX_NESTING).
MAX_NESTING = 6
# Elements the skeleton keeps; the rest (p, thead, em …) only hold words.
STRUCTURE = frozenset(("ul", "ol", "li", "blockquote", "pre", "h3", "table", "tr", "th", "td"))
END = "<p>The end.</p>"  # the cleaning may drop a rule or a lone list that ends a body


@st.composite
def blocks(draw: st.DrawFn, nesting: int = 0, deepest: int = MAX_NESTING, starts: tuple[str, ...] = STARTS) -> str:
    """One block; lists and quotes only while `nesting` stays below `deepest`."""
    kinds = ["p", "pre", "h3", "hr", "table", "br"]
    if nesting < deepest:
        kinds += ["ul", "ol", "ol", "blockquote"]
    kind = draw(st.sampled_from(kinds))
    word = draw(st.sampled_from(WORDS))
    if kind == "p":
        return f"<p>{word} {draw(st.sampled_from(WORDS))}</p>"
    if kind == "br":
        return f"<p>{word}<br>{draw(st.sampled_from(LINE_STARTS))}</p>"
    if kind == "pre":
        return f"<pre>{word}\n\n  {draw(st.sampled_from(WORDS))}\n</pre>"
    if kind == "h3":
        return f"<h3>{word}</h3>"
    if kind == "hr":
        return "<hr>"
    if kind == "table":
        return f"<table><tr><th>{word}</th><th>b</th></tr><tr><td>c</td><td>d</td></tr></table>"
    if kind == "blockquote":
        inner = draw(st.lists(blocks(nesting + 1, deepest, starts), min_size=1, max_size=2))
        return f"<blockquote>{''.join(inner)}</blockquote>"
    start = f' start="{draw(st.sampled_from(starts))}"' if kind == "ol" and draw(st.booleans()) else ""
    items = draw(st.lists(_item(nesting + 1, deepest, starts), min_size=1, max_size=3))
    return f"<{kind}{start}>{''.join(items)}</{kind}>"


@st.composite
def _item(draw: st.DrawFn, nesting: int, deepest: int, starts: tuple[str, ...]) -> str:
    parts = [draw(st.sampled_from(WORDS))] if draw(st.booleans()) else []
    parts += draw(st.lists(blocks(nesting, deepest, starts), min_size=0 if parts else 1, max_size=2))
    if draw(st.integers(0, 4)) == 0:
        parts.append(draw(st.sampled_from(WORDS)))  # text after the item's blocks
    return f"<li>{''.join(parts)}</li>"


def skeleton(html: str) -> list:
    """The containers of `html` as nested lists (an <ol> with its start), the words in order."""
    root = lxml.html.fragment_fromstring(html, create_parent="div")

    def walk(element, into: list) -> None:
        target = into
        if element.tag in STRUCTURE:
            name = element.tag
            if name == "ol":
                items = sum(1 for child in element if child.tag == "li")
                name += f"@{min(int(element.get('start') or 1), 999_999_999 - items + 1)}"
            target = [name]
            into.append(target)
        target.extend((element.text or "").split())
        for child in element:
            if isinstance(child.tag, str):
                walk(child, target)
            target.extend((child.tail or "").split())

    found: list = []
    walk(root, found)  # the root, a <div>, adds no level
    return _without_empty(found)


def _without_empty(level: list) -> list:
    """A container with no word in it is left out: the cleaning removes an empty quote or a
    list around nothing but a rule, and no reader misses it."""
    kept: list = []
    for item in level:
        if isinstance(item, list):
            inner = [item[0], *_without_empty(item[1:])]
            if len(inner) > 1:
                kept.append(inner)
        else:
            kept.append(item)
    return kept


def _markdown(html: str) -> str:
    return json.loads(feedclean.convert_bytes(make_dump(html).encode(), "json"))["markdown"]


@given(st.lists(blocks(), min_size=1, max_size=3))
@example(['<ol><li>intro<ol start="5"><li>five</li></ol></li></ol>'])
@example(["<ul><li><ul><li>inner</li></ul>after</li></ul>"])
@example(["<ul><li><hr>after a rule</li></ul>"])
@example(['<ul><li>alpha<ul><li>beta</li></ul><ol start="3"><li>three</li></ol></li></ul>'])
@example(['<blockquote><p>quoted</p></blockquote><ol start="2"><li>two</li></ol>'])
@settings(deadline=None)
def test_rendering_gives_back_the_structure(body: list[str]) -> None:
    html = "".join(body) + END
    markdown = _markdown(html)
    expected = skeleton(html)
    renderings = {"markdown-it": GFM.render(markdown), "cmark-gfm": cmarkgfm.github_flavored_markdown_to_html(markdown)}
    for name, rendered in renderings.items():
        assert skeleton(rendered) == expected, f"{name} reads another structure\nmarkdown:\n{markdown}"


def _words(tree: list) -> list[str]:
    return [word for node in tree for word in (_words(node[1:]) if isinstance(node, list) else [node])]


def _code_blocks(tree: list) -> int:
    return sum((node[0] == "pre") + _code_blocks(node[1:]) for node in tree if isinstance(node, list))


@given(st.lists(blocks(deepest=10, starts=(*STARTS, "12345", "999999999")), min_size=1, max_size=3))
@settings(deadline=None)
def test_deep_nesting_keeps_every_word_and_makes_no_code_block(body: list[str]) -> None:
    """Past the nesting budget the structure is flattened, but every word is still there, read as
    text: none is lost, and no line indented past a marker becomes an indented code block."""
    html = "".join(body) + END
    markdown = _markdown(html)
    expected = skeleton(html)
    renderings = {"markdown-it": GFM.render(markdown), "cmark-gfm": cmarkgfm.github_flavored_markdown_to_html(markdown)}
    for name, rendered in renderings.items():
        found = skeleton(rendered)
        assert sorted(_words(found)) == sorted(_words(expected)), f"{name} reads other words\nmarkdown:\n{markdown}"
        assert _code_blocks(found) == _code_blocks(expected), f"{name} reads other code blocks\nmarkdown:\n{markdown}"


def test_the_issue_example_keeps_its_nested_list() -> None:
    assert _markdown('<ol><li>intro<ol start="5"><li>five</li></ol></li></ol>') == "1. intro\n\n   5. five"


def _nested(levels: int, start: str = "") -> str:
    html = "".join(f"<ol{start}><li>level {level}" for level in range(levels))
    return html + "".join("</li></ol>" for _ in range(levels))


def test_nesting_past_what_renderers_keep_is_written_unnested_with_all_its_text() -> None:
    markdown = _markdown(_nested(12) + END)
    rendered = COMMONMARK.render(markdown)  # markdown-it's CommonMark preset drops the text of a tenth nested list
    for level in range(12):
        assert f"level {level}" in rendered, rendered
    assert rendered.count("<ol") == MAX_NESTING


def test_wide_list_numbers_nest_less_deep() -> None:
    """Each line inside a list pays its marker's width: 999999999. takes 11 columns."""
    markdown = _markdown(_nested(6, ' start="999999999"') + END)
    assert max(len(line) - len(line.lstrip()) for line in markdown.split("\n")) <= 32, markdown
    rendered = cmarkgfm.github_flavored_markdown_to_html(markdown)
    assert all(f"level {level}" in rendered for level in range(6))
