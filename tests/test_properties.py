"""Property-based tests: no input, however broken, crashes feedclean or yields invalid output.

Real dumps are messy in ways no list of cases covers (see DOMAIN.md), so
hypothesis feeds the library and the CLI random bytes, random text, mutated
samples and HTML generated from a grammar, and checks what feedclean promises
for every input (tests/fuzzkit.py holds the generators and the checks, shared
with scripts/fuzz.py, which runs the same generators at a much larger count).

The "ci" profile keeps the whole file within a CI budget. For a longer local
run: FEEDCLEAN_HYPOTHESIS_PROFILE=thorough pytest tests/test_properties.py
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import fuzzkit
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import feedclean
from feedclean.cli import main

T = TypeVar("T")

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.register_profile("thorough", settings.get_profile("ci"), max_examples=2000)
settings.load_profile(os.environ.get("FEEDCLEAN_HYPOTHESIS_PROFILE", "ci"))

# The CLI tests touch the file system and a state database, so they get a smaller share.
CLI_EXAMPLES = max(10, settings.default.max_examples // 4)
POOL = fuzzkit.seeds()
TEXT_ENCODINGS = ("utf-8", "utf-16", "gb18030", "big5", "cp1252", "utf-16-le")
ROUND_TRIP_TITLE = "Round trip"
# Go on three times in four; shrinks towards stopping.
GO_ON = st.sampled_from((False, True, True, True))


class DrawChooser:
    """A fuzzkit.Chooser over hypothesis' draw, so generated dumps shrink to minimal ones."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def blob(self, max_size: int) -> bytes:
        return self.draw(st.binary(max_size=max_size))

    def repeat(self, low: int, high: int) -> Iterator[int]:
        """One "go on?" draw per repetition, as hypothesis' own lists do, so the shrinker can drop single items."""
        count = 0
        while count < high and (count < low or self.draw(GO_ON)):
            yield count
            count += 1


@st.composite
def mutated_dumps(draw: st.DrawFn) -> bytes:
    return fuzzkit.mutate(DrawChooser(draw), POOL)


@st.composite
def generated_dumps(draw: st.DrawFn) -> bytes:
    return fuzzkit.random_dump(DrawChooser(draw))


@st.composite
def texts_as_dumps(draw: st.DrawFn) -> bytes:
    """Arbitrary Unicode, with or without a dump header, saved in one of the encodings scrapers use."""
    text = draw(st.text(max_size=2000))
    if draw(st.booleans()):
        text = f"<!--1712180702000-->\n[{draw(st.text(max_size=40))}](https://example.com/a)\n------\n\n{text}"
    return text.encode(draw(st.sampled_from(TEXT_ENCODINGS)), "replace")


# The generated body ends with a paragraph of prose, as an article does: without it, a
# body whose last blocks are rows of links to the site's own pages would be one that ends
# in end matter (related links, a read-more link), which the cleaning removes by design.
ROUND_TRIP_CLOSING = "<p>Closing words of the article.</p>"


@st.composite
def round_trip_dumps(draw: st.DrawFn) -> tuple[bytes, set[str]]:
    """A well-formed generated body, and the words a reader of it sees."""
    body = fuzzkit.html_body(DrawChooser(draw))
    return fuzzkit.dump_bytes(body.html + ROUND_TRIP_CLOSING, ROUND_TRIP_TITLE), fuzzkit.expected_words(body)


@st.composite
def autolink_neighbour_dumps(draw: st.DrawFn) -> bytes:
    """Paragraphs where URL-like text (http://, www., e-mail) runs straight into a code span holding
    raw HTML, a link, an image or a break."""
    chooser = DrawChooser(draw)
    paragraphs = []
    for _ in chooser.repeat(1, 3):
        pieces = [html.escape(fuzzkit.random_text(chooser, 3, hostile=True))]
        for _ in chooser.repeat(1, 3):
            pieces += [fuzzkit.autolink_neighbour(chooser).html, html.escape(fuzzkit.random_text(chooser, 2, hostile=True))]
        tag = chooser.choice(("p", "h2", "li", "td"))
        paragraphs.append(f"<{tag}>{''.join(pieces)}</{tag}>")
    return fuzzkit.dump_bytes("".join(paragraphs))


any_dumps = st.one_of(st.binary(max_size=2000), texts_as_dumps(), mutated_dumps(), generated_dumps())


def _check(data: bytes) -> fuzzkit.Converted | feedclean.InputError:
    result = fuzzkit.convert_checked(data)
    event("rejected" if isinstance(result, feedclean.InputError) else "converted")
    return result


# ---------------------------------------------------------------------------
# The library: convert_bytes converts or raises InputError, and the output is valid.
# ---------------------------------------------------------------------------


@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@given(texts_as_dumps())
def test_random_text(data: bytes) -> None:
    _check(data)


@given(mutated_dumps())
@settings(max_examples=settings.default.max_examples * 3)
def test_mutated_samples(data: bytes) -> None:
    _check(data)


@given(generated_dumps())
@settings(max_examples=settings.default.max_examples * 2)
def test_generated_dumps(data: bytes) -> None:
    _check(data)


@given(round_trip_dumps())
@settings(max_examples=settings.default.max_examples * 2)
@example(
    (
        fuzzkit.dump_bytes(
            '<p>alpha<span><a href="https://example.com/page"><img src="https://example.com/a.jpg" alt="">'
            "<code>alpha</code></a></span><code>alpha</code></p><p>Closing words of the article.</p>"
        ),
        {"alphaalphaalpha"},
    )
)
def test_visible_words_reach_the_output(case: tuple[bytes, set[str]]) -> None:
    """Every word a reader sees in a well-formed body is in the JSON text and in the rendered Markdown.

    Words may also have moved to metadata (a closing copyright notice goes to
    `rights`, a heading repeating the title is dropped), so those count too.
    """
    data, words = case
    result = _check(data)
    if not words:
        return
    assert not isinstance(result, feedclean.InputError), f"a body with text was rejected: {result}"
    (document,), (rendered,) = result.documents, result.rendered
    elsewhere = f"{ROUND_TRIP_TITLE} {document['rights'] or ''}"
    text = document["text"]
    missing = sorted(word for word in words if word not in text and word not in elsewhere)
    assert not missing, f"words missing from the JSON text: {missing}\nJSON text: {text!r}"
    text = fuzzkit.visible_text(rendered)
    missing = sorted(word for word in words if not _seen(word, text) and word not in elsewhere)
    assert not missing, f"words missing from the rendered Markdown: {missing}\nrendered Markdown: {text!r}"


def _seen(word: str, text: str) -> bool:
    """Whether `word` is in `text`, or split by the spaces the Markdown puts between a word an
    autolink starts in (`<http://x.y>alpha`), or a link's or image's target, and each code span,
    link, image or break against it (one space each: two around an image with no alt text; a
    word that runs through several of them is split at each)."""
    return word in text or re.search(r"\s*".join(map(re.escape, word)), text) is not None


@given(autolink_neighbour_dumps())
@example(fuzzkit.dump_bytes("<p>see http://example.com/<code>&lt;img src=x onerror=alert(1)&gt;</code> end</p>"))
@example(fuzzkit.dump_bytes("<p>www.example.com<code>&lt;img src=x onerror=alert(1)&gt;</code></p>"))
@example(fuzzkit.dump_bytes('<p><a href="https://e.com/">see http://x.y/[1] more</a><code>&lt;script&gt;</code></p>'))
def test_autolinks_never_swallow_a_delimiter(data: bytes) -> None:
    """GFM autolinks run on to the next space; none may take in a code span's backtick (its raw
    HTML would go live) under cmark-gfm, markdown-it with linkify or mistune's url plugin."""
    _check(data)


def _feed_item(description: bytes) -> bytes:
    return b"<rss><channel><item><title>t</title><description>" + description + b"</description></item></channel></rss>"


def test_seeds_are_valid() -> None:
    """The starting points of the mutations convert cleanly themselves."""
    for data in POOL:
        assert not isinstance(fuzzkit.convert_checked(data), feedclean.InputError)


# Minimal inputs that crashed feedclean when the fuzzer or hypothesis found them: kept as fixed examples.
FOUND_BY_FUZZING = [
    pytest.param(b"<table><tr><td><br>", id="lone-br-in-one-column-table"),
    pytest.param(b'<?xml version="1.0"?>\n<rdf:RDF>', id="feed-root-with-undeclared-prefix"),
    pytest.param(b"<?xml?><:", id="feed-root-named-colon"),
    pytest.param(_feed_item(b"a &#xD800; b"), id="feed-charref-surrogate"),
    pytest.param(_feed_item(b"&#x110000;"), id="feed-charref-beyond-unicode"),
    pytest.param(_feed_item(b"&#9999999999;"), id="feed-charref-beyond-c-int"),
    # Escaped text in <code> comes out as a live <img onerror> once the inner ** pair is dropped.
    pytest.param(
        b"<b><b><code>``</code></b><code>&lt;img src=x onerror=alert(1)&gt;</code></b>", id="code-spans-merge-into-raw-html"
    ),
    # Too deep for libxml2, so read by the standard library's tokenizer, which asserted on "<![" that is no CDATA.
    pytest.param(b"<div>" * 300 + b"text <![CDA more", id="bogus-marked-section-in-deep-markup"),
    # feedparser decodes the XML reference into the item's body; lxml refused the ESC in the tree.
    pytest.param(_feed_item(b"&lt;p&gt;a&lt;/p&gt;b&#x1b;c&lt;p&gt;d&lt;/p&gt;"), id="feed-control-reference-beside-blocks"),
    pytest.param(b"<p>a</p>b&#x1b;c<p>d</p>", id="control-reference-beside-blocks"),
]


@pytest.mark.parametrize("data", FOUND_BY_FUZZING)
def test_found_by_fuzzing(data: bytes) -> None:
    fuzzkit.convert_checked(data)


# ---------------------------------------------------------------------------
# The command line: exits 0 or 1, never a traceback, every written file valid.
# ---------------------------------------------------------------------------

FILE_NAMES = ("a.txt", "新闻 2024.txt", "b.html", "noext", "c.d.txt")


@given(st.lists(any_dumps, min_size=1, max_size=len(FILE_NAMES)), st.sampled_from(("md", "json")))
@settings(max_examples=CLI_EXAMPLES)
def test_cli_folder(dumps: list[bytes], output_format: str) -> None:
    """Each input either fails (one line naming it) or has its output(s): IN/x.txt → OUT/x.md, a feed → OUT/x/*.md."""
    with tempfile.TemporaryDirectory() as temporary:
        inputs, out = Path(temporary, "in"), Path(temporary, "out")
        inputs.mkdir()
        for name, data in zip(FILE_NAMES, dumps, strict=False):
            (inputs / name).write_bytes(data)
        result = CliRunner().invoke(
            main, ["convert", str(inputs), "-o", str(out), "-f", output_format, "-j", "1", "--no-user-rules"]
        )
        _assert_clean_exit(result)
        errors = [line for line in result.stderr.splitlines() if ": error: " in line]
        assert (result.exit_code == 1) == bool(errors), result.output
        for name, data in zip(FILE_NAMES, dumps, strict=False):
            failed = any(f": error: {inputs / name}: " in line for line in errors)
            single, folder = out / f"{Path(name).stem}.{output_format}", out / Path(name).stem
            outputs = [single] if single.exists() else sorted(folder.glob(f"*.{output_format}"))
            assert failed != bool(outputs), f"{name}: failed={failed}, outputs={outputs}\n{result.output}"
            if single.exists():
                assert single.read_text(encoding="utf-8") == feedclean.convert_bytes(data, output_format), name
            for path in outputs:
                text = path.read_text(encoding="utf-8")
                if output_format == "md":
                    fuzzkit.check_body(fuzzkit.check_markdown(text)[1])
                else:
                    fuzzkit.check_document(json.loads(text))


@given(any_dumps, st.sampled_from(("md", "json")))
@example(b"<table><tr><td><br>", "md")
@settings(max_examples=CLI_EXAMPLES)
def test_cli_stdin(data: bytes, output_format: str) -> None:
    result = CliRunner().invoke(main, ["convert", "-f", output_format, "--no-user-rules"], input=data)
    _assert_clean_exit(result)
    if result.exit_code == 1:
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("feedclean: error: <stdin>: "), result.stderr
        return
    assert result.stdout == feedclean.convert_bytes(data, output_format)


def _assert_clean_exit(result) -> None:
    assert result.exit_code in (0, 1), f"exit {result.exit_code}: {result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    assert "internal error" not in result.output, result.output
