"""Unusual inputs with real files: feed files, whole web pages, and bad files of every kind."""

from __future__ import annotations

import json
import os
import re

from conftest import SAMPLES, make_dump, split_front_matter

import feedclean
from feedclean.cli import main

ITEM_NAME = re.compile(r"[0-9a-f]{16}\.md")


def _convert(runner, inputs, out, *extra):
    result = runner.invoke(main, ["convert", *map(str, inputs), "-o", str(out), "-j", "1", *extra])
    return result


def _front_matters(folder):
    return {path.name: split_front_matter(path.read_text(encoding="utf-8")) for path in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------
# Feed files
# ---------------------------------------------------------------------------


def test_rss2_feed_gives_one_clean_article_per_item(runner, tmp_path):
    out = tmp_path / "out"
    assert _convert(runner, [SAMPLES / "feed_rss2.xml"], out).exit_code == 0
    articles = _front_matters(out / "feed_rss2")
    assert len(articles) == 3 and all(ITEM_NAME.fullmatch(name) for name in articles)
    by_title = {front["title"]: (front, body) for front, body in articles.values()}
    front, body = by_title["Harbour reopens after storm & repairs"]
    assert front["url"] == "https://news.example.org/world/harbour-reopens"
    assert front["published"] == "2024-04-12T07:30:00+02:00"
    assert front["source"] == {"name": "Example Wire - World", "domain": "news.example.org"}
    assert front["images"] == [
        {
            "url": "https://cdn.example.org/photos/harbour.jpg",
            "caption": "Cranes were back at work on Friday morning.",
            "alt": "Cranes at the harbour",
        }
    ]
    assert "Port officials said" in body, "full content (content:encoded) is preferred over the summary"
    for junk in ("Share this", "facebook", "twitter", "feedburner", "weserv"):
        assert junk not in body
    _, tram = by_title["Council votes on new tram line"]
    assert "31 votes to 12" in tram and "track()" not in tram
    _, swifts = by_title["Bird count finds more swifts"]
    assert "feedx" not in swifts and "获取更多RSS" not in swifts


def test_atom_and_rdf_feeds(runner, tmp_path):
    out = tmp_path / "out"
    assert _convert(runner, [SAMPLES / "feed_atom.xml", SAMPLES / "feed_rss1_rdf.xml"], out).exit_code == 0
    atom = {front["title"]: (front, body) for front, body in _front_matters(out / "feed_atom").values()}
    front, body = atom["La ville inaugure une nouvelle médiathèque"]
    assert front["published"] == "2024-04-03T10:15:00+02:00" and front["language"] == "fr"
    assert front["images"][0] == {
        "url": "https://www.exemple.fr/images/mediatheque.jpg",
        "caption": "La façade de la médiathèque.",
        "alt": None,
    }
    assert "FetchRSS" not in body
    assert "cinquantaine d'exposants" in atom["Marché de printemps ce week-end"][1]
    [(front, body)] = _front_matters(out / "feed_rss1_rdf").values()
    assert front["title"] == "Café review: the new place on the corner"
    assert front["published"] == "2024-04-05T16:20:00-04:00"
    assert "excellent coffee" in body and "Feed43" not in body


def test_a_character_reference_too_long_for_int_spoils_one_character_not_the_feed():
    digits = "9" * 5000
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>A</title>'
        f"<link>https://example.com/a</link><description>before &#{digits}; after</description></item></channel></rss>"
    )
    [article] = json.loads(feedclean.convert_bytes(feed.encode(), "json"))
    assert article["markdown"] == "before \ufffd after"


def test_feed_item_names_are_stable(runner, tmp_path):
    for out in (tmp_path / "a", tmp_path / "b"):
        assert _convert(runner, [SAMPLES / "feed_rss2.xml"], out, "--force").exit_code == 0
    assert sorted(os.listdir(tmp_path / "a" / "feed_rss2")) == sorted(os.listdir(tmp_path / "b" / "feed_rss2"))


def test_feed_through_stdin_as_json_array(runner):
    result = runner.invoke(main, ["convert", "--format", "json"], input=(SAMPLES / "feed_rss2.xml").read_bytes())
    assert result.exit_code == 0
    articles = json.loads(result.stdout)
    assert isinstance(articles, list) and len(articles) == 3


def test_feed_file_is_incremental(runner, tmp_path):
    out = tmp_path / "out"
    _convert(runner, [SAMPLES / "feed_atom.xml"], out)
    second = _convert(runner, [SAMPLES / "feed_atom.xml"], out)
    assert "0 converted, 1 unchanged" in second.stderr


# ---------------------------------------------------------------------------
# Whole web pages
# ---------------------------------------------------------------------------


def test_whole_page_keeps_the_article_and_its_metadata(runner, tmp_path):
    out = tmp_path / "out"
    assert _convert(runner, [SAMPLES / "page_full.html"], out).exit_code == 0
    front, body = split_front_matter((out / "page_full.md").read_text(encoding="utf-8"))
    assert front["title"] == "Rail strike called off after late-night deal"
    assert front["url"] == "https://www.example-times.com/business/rail-strike-deal"
    assert front["source"] == {"name": "Example Times", "domain": "example-times.com"}
    assert front["published"] == "2024-04-09T06:45:00+01:00"
    assert front["lead"] == "Unions and operators agreed on pay after twenty hours of talks."
    assert "A national rail strike planned for Thursday" in body and "find a way forward" not in body
    for chrome in ("Most read", "Housing market", "Privacy", "Terms", "Sign up", "dataLayer", "font-family", "Sport"):
        assert chrome not in body, chrome


def test_dump_whose_body_is_a_whole_page(tmp_path):
    page = (SAMPLES / "page_full.html").read_text(encoding="utf-8")
    article = json.loads(feedclean.convert_bytes(make_dump(page, title="Strike off").encode(), "json"))
    assert article["title"] == "Strike off" and "Most read" not in article["markdown"]
    assert "A national rail strike" in article["markdown"]


def test_fragments_never_go_through_readability(monkeypatch):
    import readability

    def refuse(*_args, **_kwargs):
        raise AssertionError("readability ran on a feed fragment")

    monkeypatch.setattr(readability, "Document", refuse)
    for sample in ("000_005ff02dac068fcc.txt", "003_1fddeb10f9e1ef9b.txt", "bare_fragment.html", "feed_rss2.xml"):
        feedclean.convert_bytes((SAMPLES / sample).read_bytes())


# ---------------------------------------------------------------------------
# Bad files: one line each, naming the file; the run goes on.
# ---------------------------------------------------------------------------

BAD_FILES = {
    "empty.txt": (b"", "file is empty"),
    "blank.txt": (b" \n\n\t\n", "file is empty"),
    "binary.png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary file"),
    "header-only.txt": (b"<!--1712180702000-->\n[Title](https://example.com/a)\n------\n\n", "header but no body"),
    "corrupt-utf8.txt": (("<p>" + "正文" * 20).encode() + b"\xff\xfe</p>", "invalid UTF-8"),
    "undecodable.txt": (bytes(range(0x80, 0x100)) * 4, "cannot decode"),
    "empty-feed.xml": (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
        "feed file with no items",
    ),
}


def test_each_bad_file_is_one_line_and_the_run_goes_on(runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, (data, _) in BAD_FILES.items():
        (folder / name).write_bytes(data)
    (folder / "good.txt").write_bytes((SAMPLES / "003_1fddeb10f9e1ef9b.txt").read_bytes())
    big = folder / "huge.txt"
    big.write_bytes(make_dump("<p>" + "x" * 7000 + "</p>").encode())
    result = _convert(runner, [folder], tmp_path / "out", "--max-size", "6k")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    expected = {**{name: message for name, (_, message) in BAD_FILES.items()}, "huge.txt": "over the 6,144-byte limit"}
    assert len(errors) == len(expected)
    for name, message in expected.items():
        [line] = [line for line in errors if f"{os.sep}{name}: " in line]
        assert message in line, line
    assert (tmp_path / "out" / "good.md").exists()
    assert "Traceback" not in result.output


def test_deeply_nested_markup_keeps_its_text():
    for depth in (300, 5000, 50000):
        body = "<div>" * depth + "<p>deep text</p>" + "</div>" * depth + "<p>after it</p>"
        document = json.loads(feedclean.convert_bytes(make_dump(body).encode(), "json"))
        assert document["text"] == "deep text\n\nafter it", depth


def test_invalid_dates_are_left_out_not_fatal(runner, tmp_path):
    dump = tmp_path / "d.txt"
    dump.write_text(
        "<!--99999999999999999999-->\n[T](https://www.rfi.fr/cn/a)\n------\n\n<div>31/02/2024 - 25:61</div><p>正文。</p>", "utf-8"
    )
    result = runner.invoke(main, ["convert", str(dump), "--format", "json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["fetched"] is None and document["published"] is None
    assert "31/02/2024 - 25:61" in document["markdown"]
    assert "warning: " in result.stderr and "not a plausible date" in result.stderr


def test_unsafe_titles_never_name_files(runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(make_dump("<p>Text.</p>", title="../../../etc/passwd"), "utf-8")
    (folder / "b.txt").write_text(make_dump("<p>Text.</p>", title="con:aux|nul*?<>"), "utf-8")
    out = tmp_path / "out"
    assert _convert(runner, [folder], out).exit_code == 0
    assert sorted(p.name for p in out.glob("*.md")) == ["a.md", "b.md"]
    assert {p.name for p in tmp_path.iterdir()} <= {"config", "in", "out"}


def test_output_symlinked_out_of_the_folder_is_refused(runner, tmp_path):
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text(make_dump("<p>Text.</p>"), "utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside)
    result = _convert(runner, [tmp_path / "in"], out)
    assert result.exit_code == 1 and "outside" in result.stderr
    assert list(outside.iterdir()) == []


def test_output_never_equals_input(runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.md").write_text(make_dump("<p>Text.</p>"), "utf-8")
    result = _convert(runner, [folder], folder)
    assert result.exit_code == 2 and "is the input folder" in result.output
    result = _convert(runner, [folder / "a.md"], folder)
    assert result.exit_code == 1 and "would overwrite the input itself" in result.stderr
    assert (folder / "a.md").read_text("utf-8") == make_dump("<p>Text.</p>")


def test_a_body_of_nothing_but_junk_converts_with_a_warning(runner, tmp_path):
    dump = tmp_path / "d.txt"
    junk = '<div><a href="https://www.facebook.com/sharer.php?u=x">Share</a></div><p>获取更多RSS：</p>'
    dump.write_text(make_dump(junk), "utf-8")
    result = runner.invoke(main, ["convert", str(dump), "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["markdown"] == ""
    assert "warning: " in result.stderr and "nothing is left of the body" in result.stderr
