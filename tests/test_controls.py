"""Control characters never reach an output or a terminal (issue 11, row 16).

A publisher writes `&#x1b;` and gets ESC: `ESC ] 52 ; c ; …` printed on a
terminal writes its clipboard, `ESC [ 8 m` hides what follows, and a .md file
or JSON value holding them does the same to whoever prints it. One guard
(feedclean/controls.py) takes them out of the Markdown body, the front matter,
the JSON, and what `explain` and `rules` print.
"""

from __future__ import annotations

import html
import io
import json
import re

import pytest
from click.testing import CliRunner
from conftest import make_dump, split_front_matter

import feedclean
from feedclean.cli import load_rules, main
from feedclean.controls import encode_controls, strip_controls
from feedclean.explain import explain, print_explanation

# Every control character but tab and newline: C0, DEL and C1.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
OSC_52 = "&#x1b;]52;c;cHduZWQ=&#x07;"
HIDE = "&#x1b;[8m"
# Raw C1 characters in the dump itself (HTML maps &#x80;–&#x9f; to Windows-1252 characters).
CSI_RAW = "\x9b31m"

HOSTILE_ARTICLE = make_dump(
    f"<p><strong>Lead{OSC_52} in bold that says what happened today{CSI_RAW}.</strong></p>"
    f"<p>a&#x1b;[31mred{CSI_RAW} <code>co&#x1b;[0mde</code> "
    f'<a href="https://example.com/{CSI_RAW}a">li&#x07;nk</a></p>'
    f"<h2>Head{HIDE}ing</h2><pre>pre&#x1b;[2Jformatted&#13;text&#x7f;</pre>"
    f'<figure><img src="https://example.com/i{CSI_RAW}.jpg" alt="al{OSC_52}t">'
    f"<figcaption>Cap{HIDE}tion</figcaption></figure>"
    f"<table><tr><th>a{HIDE}</th><th>b</th></tr><tr><td>c{CSI_RAW}</td><td>d</td></tr></table>"
    f"<ul><li>item{OSC_52}</li></ul><p>© 2024 Example{HIDE} News. All rights reserved.</p>",
    title=f"Ti\x1b]52;c;eA==\x07tle{CSI_RAW}",
    url=f"https://example.com/news/{CSI_RAW}a",
)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def test_the_guard_strips_controls_and_keeps_tab_and_newline() -> None:
    assert strip_controls("a\x1b]52;c;x\x07b\x9b31m\x7fc\td\ne") == "a]52;c;xb31mc\td\ne"
    assert strip_controls("word\x0cword\x85word\rword") == "word word word word"
    assert strip_controls("plain text, 中文") == "plain text, 中文"


def test_the_guard_percent_encodes_controls_in_urls() -> None:
    # Dropping the U+009B would make a scheme of what is a relative URL.
    assert encode_controls("java\x9bscript:alert(1)") == "java%C2%9Bscript:alert(1)"
    assert encode_controls("https://example.com/a\tb\x1b") == "https://example.com/a%09b%1B"


@pytest.mark.parametrize("output_format", ["md", "json"])
def test_no_control_character_in_any_output(output_format: str) -> None:
    output = feedclean.convert_bytes(HOSTILE_ARTICLE.encode(), output_format)
    assert not CONTROL.search(output), repr(CONTROL.findall(output))
    if output_format == "json":
        document = json.loads(output)
        assert document["text"] and document["images"] and document["lead"]
        for text in _strings(document):
            assert not CONTROL.search(text), repr(text)
    else:
        front, body = split_front_matter(output)
        assert "a[31mred31m" in body.replace("\\", "") and "Head[8ming" in body.replace("\\", "")
        assert front["title"] and front["rights"]


def test_escape_sequence_in_a_paragraph_is_text_without_its_escape() -> None:
    document = json.loads(feedclean.convert_bytes(make_dump("<p>a&#x1b;[31mred</p>").encode(), "json"))
    assert document["markdown"] == "a\\[31mred"
    assert document["text"] == "a[31mred"


def test_a_url_keeps_its_controls_percent_encoded() -> None:
    document = json.loads(feedclean.convert_bytes(HOSTILE_ARTICLE.encode(), "json"))
    assert "](https://example.com/%C2%9B31ma)" in document["markdown"]
    assert document["images"][0]["url"] == "https://example.com/i%C2%9B31m.jpg"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


SHARE_WIDGET = make_dump(
    f'<p>Text of the article.</p><a href="https://www.facebook.com/sharer/sharer.php?u=x">{OSC_52}{HIDE}</a>'
)


@pytest.mark.parametrize("stream", [io.StringIO, _Terminal], ids=["piped", "terminal"])
def test_explain_prints_no_escape_sequence_of_the_input(stream: type[io.StringIO]) -> None:
    report = explain(SHARE_WIDGET.encode(), "dump.txt", load_rules((), False))
    printed = stream()
    print_explanation(report, printed)
    output = printed.getvalue()
    assert "]52;c;cHduZWQ=" in output, output  # the excerpt is shown, as text
    # On a terminal rich colours with its own SGR sequences (ESC [ … m); the input's OSC and
    # "conceal" sequences, and its BEL, must not be there.
    assert "\x1b]" not in output and "\x1b[8m" not in output and "\x07" not in output, repr(output)
    if stream is io.StringIO:
        assert not CONTROL.search(output), repr(output)


def test_explain_command_piped_and_as_json(tmp_path) -> None:
    dump = tmp_path / "dump.txt"
    dump.write_text(SHARE_WIDGET, encoding="utf-8")
    for options in ([], ["--json"]):
        result = CliRunner().invoke(main, ["explain", "--no-user-rules", *options, str(dump)])
        assert result.exit_code == 0, result.output
        assert not CONTROL.search(result.output), repr(result.output)
        if options:
            for text in _strings(json.loads(result.output)):
                assert not CONTROL.search(text), repr(text)


def test_rules_command_prints_no_control_character_of_a_rules_file(tmp_path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nhosts = ["example.com"]\nname = "Evil\\u001b]52;c;cHduZWQ=\\u0007 News\\u009b8m"\n')
    for options in ([], ["--json"]):
        result = CliRunner().invoke(main, ["rules", "--no-user-rules", "--rules", str(rules), *options])
        assert result.exit_code == 0, result.output
        assert "]52;c;cHduZWQ=" in result.output
        assert not CONTROL.search(result.output), repr(result.output)
        if options:
            for text in _strings(json.loads(result.output)):
                assert not CONTROL.search(text), repr(text)


@pytest.mark.parametrize("reference", ["&#x1b;", "&#27;", "&#27", "&#0027;", "&#X1B;", "&#1;", "&#x0c;"])
def test_a_control_reference_beside_blocks_is_converted(reference: str) -> None:
    """libxml2 puts what `&#27;` names in the tree, and lxml then refused to move that text into
    the paragraph it wraps loose text in (a ValueError, the input lost as an internal error)."""
    data = make_dump(f"<div><p>before</p>loose{reference}text<p>after</p></div>").encode()
    document = json.loads(feedclean.convert_bytes(data, "json"))
    assert document["markdown"] == "before\n\nloosetext\n\nafter"


def test_a_control_reference_in_a_whole_page_is_converted() -> None:
    """readability's cleaner raised on one after an element it drops, and the page was lost
    ("cannot find the article in the web page")."""
    page = (
        "<!DOCTYPE html><html><head><title>Page</title></head><body><article>"
        "<p>A long paragraph of article text&#x1b; that readability keeps as the content of the page.</p>"
        "<p>Another paragraph <script>x()</script>&#27;of the article, so that it is clearly the main content.</p>"
        "</article></body></html>"
    )
    document = json.loads(feedclean.convert_bytes(make_dump(page).encode(), "json"))
    assert "A long paragraph of article text that readability keeps" in document["text"]


def test_a_control_in_a_feed_item_is_converted() -> None:
    """feedparser decodes an XML reference &#27; into an item's body; the tree refused the ESC."""
    body = html.escape("<p>first</p>loose") + "&#x1b;" + html.escape("[8m text<p>after</p>")
    item = f"<item><title>T</title><description>{body}</description></item>"
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{item}</channel></rss>'
    document = json.loads(feedclean.convert_bytes(feed.encode(), "json"))[0]
    assert document["markdown"] == "first\n\nloose\\[8m text\n\nafter"
