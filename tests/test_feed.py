"""`feedclean feed`: an Atom feed of a converted folder, read back the way a feed reader reads it.

feedparser subscribes to the feed (no `bozo`, every article an entry with its title, link,
dates and content), with its own sanitizer off, so that what is checked for active content is
what feedclean wrote, not what feedparser cleaned. The hostile Markdown comes from the vectors
of tests/cases/hostile.yaml, written straight into a hand-edited article.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from click.testing import CliRunner
from conftest import SAMPLES, load_cases
from lxml import etree
from markdown_it import MarkdownIt
from test_hostile import _html_problems

from feedclean.atom import FEED_START, MAX_ENTRY_MARKDOWN
from feedclean.cli import main

ENV = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent-feedclean-test-config"}
ATOM = "{http://www.w3.org/2005/Atom}"
# What the samples hold before cleaning and must not reach a reader: share widgets, a feed
# proxy's footer, a self-promotion placeholder, tracking parameters and pixels.
JUNK = ("facebook.com/dialog/share", "sharer", "feedx.net", "selfpromo", "utm_", "feeds.feedburner.com/~r", "1x1")
CONTROLS = {chr(code) for code in (*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """The samples converted twice into one folder, as Markdown and as JSON: each article twice."""
    out = tmp_path_factory.mktemp("feed") / "out"
    for output_format in ("md", "json"):
        result = CliRunner().invoke(main, ["convert", str(SAMPLES), "-o", str(out), "-f", output_format, "--no-user-rules"])
        assert result.exit_code == 0, result.output
    return out


def articles_of(folder: Path) -> dict[str, dict]:
    """The articles of a converted folder by id, from its JSON outputs."""
    return {document["id"]: document for document in map(json.loads, map(Path.read_text, folder.rglob("*.json")))}


def subscribe(feed: bytes) -> feedparser.FeedParserDict:
    """The feed as a reader gets it: parsed, with feedparser's own sanitizer off."""
    parsed = feedparser.parse(feed, sanitize_html=False)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def shape(html: str) -> list[tuple]:
    """HTML as a list of its elements, their attributes and text: feedparser re-serialises what it
    reads (attributes in another order, no final newline), a browser sees the same."""
    root = lxml.html.fragment_fromstring(html.strip(), create_parent="div")
    return [(element.tag, sorted(element.attrib.items()), element.text, element.tail) for element in root.iter()]


def write_article(folder: Path, name: str, **fields) -> None:
    """A JSON article as convert writes it, with `fields` changed."""
    document = {
        "schema": 1, "title": "A title", "id": name, "url": f"https://example.com/{name}",
        "source": {"name": "Example", "domain": "example.com"}, "published": None,
        "fetched": "2024-05-01T00:00:00+00:00", "language": "en", "lead": None, "images": [], "rights": None,
        "markdown": f"Article {name}.", "text": f"Article {name}.",
    } | fields  # fmt: skip
    (folder / f"{name}.json").write_text(json.dumps(document), encoding="utf-8")


def instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def feed_of(runner: CliRunner, folder: Path, *arguments: str) -> bytes:
    result = runner.invoke(main, ["feed", str(folder), *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_every_sample_article_reads_back_with_its_title_link_dates_and_content(runner, converted):
    articles = articles_of(converted)
    parsed = subscribe(feed_of(runner, converted))
    assert len(parsed.entries) == len(articles) == 12  # one entry per article, though each is there as .md and .json
    markdown_it = MarkdownIt("commonmark", {"html": False}).enable("table")
    for entry in parsed.entries:
        article = next(article for article in articles.values() if entry.title == article["title"])
        assert entry.get("link") == (article["url"] or entry.id)  # feedparser gives the id for a missing link
        assert instant(entry.get("published")) == instant(article["published"])  # the same instant, in UTC
        assert article["published"] is None or entry.updated == entry.published
        assert entry.updated.endswith("+00:00") and entry.get("published", "+00:00").endswith("+00:00")
        assert entry.content[0].type == "text/html"
        assert shape(entry.content[0].value) == shape(markdown_it.render(article["markdown"]))
        if article["source"]:
            assert entry.author == article["source"]["name"]


def test_entries_are_newest_first_and_the_feed_is_dated_by_its_newest(runner, converted):
    parsed = subscribe(feed_of(runner, converted))
    dated = [entry.published_parsed for entry in parsed.entries if "published_parsed" in entry]
    assert dated == sorted(dated, reverse=True) and len(dated) == 11
    assert parsed.feed.updated == parsed.entries[0].updated
    assert parsed.feed.title == "feedclean: out"


def test_the_same_folder_gives_the_same_bytes(runner, converted, tmp_path):
    first = feed_of(runner, converted)
    output = tmp_path / "clean.atom"
    assert runner.invoke(main, ["feed", str(converted), "-o", str(output)]).exit_code == 0
    assert output.read_bytes() == first == feed_of(runner, converted)
    assert first.startswith(FEED_START)


def test_a_reader_finds_no_junk_and_no_active_content_in_the_samples(runner, converted):
    for entry in subscribe(feed_of(runner, converted)).entries:
        content = entry.content[0].value
        assert not _html_problems(content), entry.title
        assert not any(junk in content for junk in JUNK), entry.title


def test_hostile_markdown_and_metadata_reach_no_reader_as_active_content(runner, tmp_path):
    """Every vector of hostile.yaml, as raw HTML typed into an article's Markdown, with a title full
    of control characters and markup, a javascript: URL and a hostile source name."""
    folder = tmp_path / "edited"
    folder.mkdir()
    cases = load_cases("hostile.yaml")
    title = "Bell\x07 \x1b]52;c;aGk=\x07 <script>alert(1)</script> \x9b31m \ufffe end"
    for number, case in enumerate(cases):
        markdown = f"Case {number}.\n\n[click](javascript:alert(1)) <javascript:alert(1)>\n\n{case['body']}"
        write_article(
            folder, f"{number:04}", title=title, url="javascript:alert(1)", markdown=markdown, source={"name": "<b>x</b>"}
        )
    parsed = subscribe(feed_of(runner, folder, "--limit", str(len(cases))))
    assert len(parsed.entries) == len(cases)
    for entry in parsed.entries:
        content = entry.content[0].value
        case = cases[int(content.removeprefix("<p>Case ").partition(".")[0])]
        assert not _html_problems(content), f"{case['name']}: {_html_problems(content)}"
        assert "link" not in entry or entry.link == entry.id
        assert not CONTROLS & set(entry.title) and "<script>" in entry.title  # markup in a title is text
        assert entry.author == "<b>x</b>"


def test_order_ties_limit_and_duplicates(runner, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    write_article(folder, "b", published="2024-04-02T12:00:00+02:00")  # 10:00 UTC
    write_article(folder, "a", published="2024-04-02T10:00:00+00:00")  # the same instant: ties go by id
    write_article(folder, "c", published=None, fetched="2024-04-03T00:00:00+00:00")  # no date: fetched counts
    write_article(folder, "d", published="2024-03-01T00:00:00+00:00")
    (folder / "again").mkdir()
    write_article(folder / "again", "c", title="Fetched later", fetched="2024-04-05T00:00:00+00:00")  # the same article
    parsed = subscribe(feed_of(runner, folder))
    assert [entry.link.rpartition("/")[2] for entry in parsed.entries] == ["c", "a", "b", "d"]
    assert parsed.entries[0].title == "Fetched later" and parsed.feed.updated == "2024-04-05T00:00:00+00:00"
    assert [entry.link[-1] for entry in subscribe(feed_of(runner, folder, "--limit", "2")).entries] == ["c", "a"]


def test_source_picks_by_name_or_domain_in_any_case(runner, converted):
    for sources, expected in ((["rfi"], {"RFI"}), (["RFI", "dw.com"], {"RFI", "DW"}), (["nobody"], set())):
        arguments = [argument for source in sources for argument in ("--source", source)]
        parsed = subscribe(feed_of(runner, converted, *arguments))
        assert {entry.author for entry in parsed.entries} == expected
        assert parsed.feed.title == f"feedclean: out ({', '.join(sources)})"
    assert subscribe(feed_of(runner, converted, "--source", "rfi", "--title", "RFI, cleaned")).feed.title == "RFI, cleaned"


def test_files_that_are_no_articles_are_one_warning_each(runner, tmp_path):
    folder = tmp_path / "out"
    (folder / ".feedclean").mkdir(parents=True)
    write_article(folder, "good")
    (folder / "notes.md").write_text("# My notes\n", encoding="utf-8")
    (folder / "broken.json").write_text('{"id": ', encoding="utf-8")
    (folder / "list.json").write_text("[1, 2]", encoding="utf-8")
    (folder / "bad-yaml.md").write_text("---\ntitle: [unclosed\n---\nText\n", encoding="utf-8")
    (folder / "bad-date.md").write_text('---\nid: "x"\npublished: "yesterday"\n---\nText\n', encoding="utf-8")
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (folder / "clean.atom").write_text("<feed/>", encoding="utf-8")  # not an article file: not read
    (folder / ".hidden.md").write_text("---\n---\n", encoding="utf-8")
    (folder / ".feedclean" / "state.json").write_text("{}", encoding="utf-8")
    result = runner.invoke(main, ["feed", str(folder)])
    assert result.exit_code == 0
    assert sorted(result.stderr.splitlines()) == [
        f"feedclean: warning: {folder / name}: not a feedclean article ({why}); skipped"
        for name, why in sorted(
            [
                ("bad-date.md", "published is not a date"),
                ("bad-yaml.md", "front matter is not YAML"),
                ("binary.json", "not UTF-8 text"),
                ("broken.json", "not JSON"),
                ("list.json", "no article object with its markdown"),
                ("notes.md", "no front matter"),
            ]
        )
    ]
    assert len(subscribe(result.stdout_bytes).entries) == 1
    assert runner.invoke(main, ["feed", str(folder), "-q"]).stderr == ""


def test_a_hand_edited_front_matter_in_plain_yaml_still_reads(runner, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    text = "---\ntitle: 'Fixed: a better title'\nid: abc\npublished: 2024-04-02 10:00:00+02:00\n---\n\nBody *text*.\n"
    (folder / "x.md").write_text(text, encoding="utf-8")
    entry = subscribe(feed_of(runner, folder)).entries[0]
    assert (entry.title, entry.published, entry.content[0].value) == (
        "Fixed: a better title",
        "2024-04-02T08:00:00+00:00",
        "<p>Body <em>text</em>.</p>",
    )


def test_an_article_file_that_cannot_be_read_is_an_error_and_the_feed_is_written_without_it(runner, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    write_article(folder, "small")
    write_article(folder, "large", markdown="x" * 5000)
    output = tmp_path / "clean.atom"
    result = runner.invoke(main, ["feed", str(folder), "-o", str(output), "--max-size", "2k", "-q"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"feedclean: error: {folder / 'large.json'}: file is ")
    assert len(subscribe(output.read_bytes()).entries) == 1


def test_an_empty_folder_gives_a_valid_feed_dated_by_nothing_that_changes(runner, tmp_path):
    parsed = subscribe(feed_of(runner, tmp_path))
    assert parsed.entries == [] and parsed.feed.updated == "1970-01-01T00:00:00+00:00"


def test_o_replaces_only_a_feed_of_its_own_and_never_an_article_inside_the_folder(runner, converted, tmp_path):
    other = tmp_path / "other.xml"
    other.write_text("<rss/>", encoding="utf-8")
    result = runner.invoke(main, ["feed", str(converted), "-o", str(other)])
    assert result.exit_code == 2 and "not a feed feedclean wrote; not replaced" in result.stderr
    assert other.read_text(encoding="utf-8") == "<rss/>"
    result = runner.invoke(main, ["feed", str(converted), "-o", str(converted / "feed.json")])
    assert result.exit_code == 2 and "named like an article" in result.stderr and not (converted / "feed.json").exists()
    empty, link = tmp_path / "empty.atom", tmp_path / "link.atom"
    empty.touch()
    link.symlink_to(empty)
    assert runner.invoke(main, ["feed", str(converted), "-o", str(link)]).exit_code == 0
    assert link.is_symlink() and empty.read_bytes().startswith(FEED_START)
    assert runner.invoke(main, ["feed", str(converted), "-o", str(empty)]).exit_code == 0  # its own: replaced


def test_a_feed_inside_the_folder_is_never_read_as_an_article(runner, converted):
    inside = converted / "clean.atom"
    try:
        assert runner.invoke(main, ["feed", str(converted), "-o", str(inside)]).exit_code == 0
        result = runner.invoke(main, ["feed", str(converted), "-o", str(inside)])
        assert result.exit_code == 0 and result.stderr == ""
    finally:
        inside.unlink()


def test_help_lists_the_command_with_examples(runner):
    assert "feed " in runner.invoke(main, ["--help"]).stdout
    help_text = runner.invoke(main, ["feed", "--help"]).stdout
    assert "feedclean feed out/ -o clean.atom" in help_text and "crontab" in help_text and "--source NAME" in help_text
    assert "dated by its file's modification time, so a copy made without cp -p changes the feed" in " ".join(help_text.split())


def test_from_cron_right_after_convert(tmp_path):
    """The crontab line as a real process: quiet, atomic (no temporary file left), well-formed."""
    out, feed = tmp_path / "articles", tmp_path / "www" / "clean.atom"
    feed.parent.mkdir()
    line = f"{sys.executable} -m feedclean convert -q {SAMPLES} -o {out}; {sys.executable} -m feedclean feed -q {out} -o {feed}"
    result = subprocess.run(["sh", "-c", line], capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert os.listdir(feed.parent) == ["clean.atom"]
    root = etree.fromstring(feed.read_bytes())
    assert root.tag == f"{ATOM}feed" and len(root.findall(f"{ATOM}entry")) == 12


def test_the_file_stdout_goes_to_is_never_read_as_an_article(tmp_path):
    """`feed out/ > out/feed.md`: the shell makes the file before feedclean reads the folder; as
    cat does, it is skipped, with an error line (status 1), not read as a broken article."""
    folder = tmp_path / "out"
    folder.mkdir()
    write_article(folder, "a")
    line = f"{sys.executable} -m feedclean feed {folder} > {folder / 'feed.md'}"
    result = subprocess.run(["sh", "-c", line], capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert (result.returncode, result.stderr) == (1, f"feedclean: error: {folder / 'feed.md'}: is the output itself; skipped\n")
    assert len(subscribe((folder / "feed.md").read_bytes()).entries) == 1


def entry_ids(feed: bytes) -> list[str]:
    return [entry.id for entry in subscribe(feed).entries]


@pytest.fixture
def wide_times():
    """A folder on a file system that keeps any modification time (tmpfs; ext4 clamps to 2446)."""
    try:
        folder = Path(tempfile.mkdtemp(dir="/dev/shm"))
    except OSError:
        pytest.skip("no /dev/shm")
    try:
        os.utime(folder, (0, 2**55))
        if folder.stat().st_mtime != 2**55:
            pytest.skip("/dev/shm clamps modification times")
        yield folder
    finally:
        shutil.rmtree(folder)


def test_a_file_whose_time_no_date_can_hold_is_undated_not_a_traceback(runner, wide_times):
    """A modification time past year 9999 (`touch -d` far ahead, a file system's garbage) was a
    ValueError and a traceback; the file is now undated by it."""
    write_article(wide_times, "a-undated", fetched=None)
    write_article(wide_times, "b-item", fetched=None, published="2024-04-02T10:00:00+00:00")  # a feed's item: no fetch time
    write_article(wide_times, "c-dated", fetched="2024-04-01T00:00:00+00:00")
    for name in ("a-undated", "b-item"):
        os.utime(wide_times / f"{name}.json", (0, 2**55))  # year 1,141,709,097
    parsed = subscribe(feed_of(runner, wide_times))
    assert [(entry.link.rpartition("/")[2], entry.updated) for entry in parsed.entries] == [
        ("b-item", "2024-04-02T10:00:00+00:00"),
        ("c-dated", "2024-04-01T00:00:00+00:00"),
        ("a-undated", "1970-01-01T00:00:00+00:00"),
    ]


def test_an_item_claiming_another_articles_url_never_takes_its_place(runner, tmp_path):
    """The feed kept one entry per article id (a hash of the URL), the newest: an item of evil.xml
    claiming RFI's URL, dated later, replaced RFI's article under RFI's name. A different text is
    another entry, with an id of its own; only copies of one text are one entry."""
    folder = tmp_path / "out"
    (folder / "evil").mkdir(parents=True)
    rfi = {"id": "5e5b60baa5eb3548", "url": "https://www.rfi.fr/cn/a", "source": {"name": "RFI", "domain": "rfi.fr"}}
    write_article(folder, "rfi", **rfi, markdown="The real article.", published="2024-04-02T10:00:00+00:00")
    alone = entry_ids(feed_of(runner, folder))
    write_article(folder / "evil", "item", **rfi, markdown="Lies.", published="2024-04-03T10:00:00+00:00")
    write_article(folder / "evil", "copy", **rfi, markdown="\nLies.\n", published="2024-04-02T11:00:00+00:00")  # the same text
    parsed = subscribe(feed_of(runner, folder))
    assert [entry.content[0].value for entry in parsed.entries] == ["<p>Lies.</p>", "<p>The real article.</p>"]
    ids = [entry.id for entry in parsed.entries]
    assert len(set(ids)) == 2 and not set(ids) & set(alone)  # a reader's entry of the real article is left alone


def test_the_feed_has_an_author_as_rfc_4287_requires_when_an_entry_has_none(runner, converted, tmp_path):
    """The samples' bare fragment has no source, so its entry no author: then the feed must have one."""
    root = etree.fromstring(feed_of(runner, converted))
    assert any(entry.find(f"{ATOM}author") is None for entry in root.iter(f"{ATOM}entry"))
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "feedclean: out"
    root = etree.fromstring(feed_of(runner, tmp_path, "--title", "\x07\x1b"))  # nothing left of the title
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "feedclean"


def test_a_date_in_the_future_counts_as_the_fetch_time_and_stays_the_published_date(runner, tmp_path):
    """A <pubDate> in 2199 held the top of the feed for ever: an article counts as new no later
    than it was fetched (a feed's item, with no fetch time: than its file was written)."""
    folder = tmp_path / "out"
    folder.mkdir()
    write_article(folder, "future", published="2199-01-01T00:00:00+00:00", fetched="2024-04-01T00:00:00+00:00")
    write_article(folder, "item", published="2199-01-01T00:00:00+00:00", fetched=None)
    os.utime(folder / "item.json", (0, datetime(2024, 4, 2, tzinfo=UTC).timestamp()))
    write_article(folder, "recent", published="2024-04-03T00:00:00+00:00", fetched="2024-04-03T00:05:00+00:00")
    parsed = subscribe(feed_of(runner, folder))
    assert [(entry.link[-6:], entry.updated, entry.published) for entry in parsed.entries] == [
        ("recent", "2024-04-03T00:00:00+00:00", "2024-04-03T00:00:00+00:00"),
        ("m/item", "2024-04-02T00:00:00+00:00", "2199-01-01T00:00:00+00:00"),
        ("future", "2024-04-01T00:00:00+00:00", "2199-01-01T00:00:00+00:00"),
    ]
    assert parsed.feed.updated == "2024-04-03T00:00:00+00:00"


def test_an_article_too_long_for_an_entry_is_a_note_with_its_link(runner, tmp_path):
    """6 MB of Markdown rendered to an 18 MB entry, in 10 s and 1 GB of memory."""
    folder = tmp_path / "out"
    folder.mkdir()
    paragraphs = "\n\n".join(f"Paragraph {number} with a [link](https://example.com/{number})." for number in range(15_000))
    assert len(paragraphs) > MAX_ENTRY_MARKDOWN
    write_article(folder, "long", markdown=paragraphs, published="2024-04-02T00:00:00+00:00")
    short = paragraphs[:MAX_ENTRY_MARKDOWN].rpartition("\n\n")[0]
    write_article(folder, "short", markdown=short, published="2024-04-01T00:00:00+00:00")
    result = runner.invoke(main, ["feed", str(folder)])
    assert result.exit_code == 0
    note = "over 512 KiB of Markdown: its entry is a note with its link"
    assert result.stderr == f"feedclean: warning: {folder / 'long.json'}: {note}\n"
    long, short = subscribe(result.stdout_bytes).entries
    link = '<a href="https://example.com/long">Read it at its source.</a>'
    assert long.content[0].value == f"<p>This article is too long for the feed (over 512 KiB). {link}</p>"
    assert short.content[0].value.count("<p>") > 5000
    assert runner.invoke(main, ["feed", str(folder), "-q"]).stderr == ""


def test_the_feed_id_is_its_folders_its_sources_in_any_case_and_order_and_its_title(runner, converted, tmp_path):
    """Every folder named `out` gave the same feed id, and `--source RFI --source DW` another than `--source dw --source rfi`."""

    def feed_id(folder: Path, *arguments: str) -> str:
        return subscribe(feed_of(runner, folder, *arguments)).feed.id

    other = tmp_path / "elsewhere" / "out"
    shutil.copytree(converted, other)
    assert feed_id(converted) != feed_id(other)
    assert feed_id(converted, "--source", "RFI", "--source", "DW") == feed_id(converted, "--source", "dw", "--source", "rfi")
    assert feed_id(converted, "--source", "rfi") != feed_id(converted, "--source", "rfi", "--title", "RFI, cleaned")
    (tmp_path / "link").symlink_to(converted)
    assert feed_id(tmp_path / "link") == feed_id(converted)  # the folder's real path


def test_an_empty_source_is_a_usage_error_and_spaces_around_one_are_dropped(runner, converted):
    """`--source "$SITE"` with SITE unset picked nothing and published an empty feed, status 0."""
    for empty in ("", "  "):
        result = runner.invoke(main, ["feed", str(converted), "--source", empty])
        assert result.exit_code == 2 and "an empty name (is a shell variable unset?)" in result.stderr and result.stdout == ""
    entries = subscribe(feed_of(runner, converted, "--source", " RFI ")).entries
    assert len(entries) == 2 and {entry.author for entry in entries} == {"RFI"}


def test_dates_are_written_in_utc_as_rfc_3339_has_them(runner, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "x.md").write_text("---\nid: abc\npublished: '2024-04-02T10:00:00+05:30:15'\n---\n\nText.\n", encoding="utf-8")
    root = etree.fromstring(feed_of(runner, folder))
    assert root.findtext(f"{ATOM}entry/{ATOM}published") == "2024-04-02T04:29:45+00:00"


def test_an_id_with_a_lone_surrogate_gives_an_entry_not_a_traceback(runner, tmp_path):
    (tmp_path / "a.json").write_text('{"id": "\\ud800", "markdown": "Text."}', encoding="utf-8")
    (tmp_path / "b.json").write_text('{"id": "\\ud801", "markdown": "Text."}', encoding="utf-8")
    assert len(set(entry_ids(feed_of(runner, tmp_path)))) == 2


def test_a_feed_replaced_keeps_the_permissions_of_the_one_it_replaces(runner, converted, tmp_path):
    """A feed chmod'ed 600 (not for all to read) came back 644 from the next run."""
    output = tmp_path / "clean.atom"
    assert runner.invoke(main, ["feed", str(converted), "-o", str(output)]).exit_code == 0
    output.chmod(0o600)
    assert runner.invoke(main, ["feed", str(converted), "-o", str(output), "--limit", "3"]).exit_code == 0
    assert len(subscribe(output.read_bytes()).entries) == 3 and output.stat().st_mode & 0o7777 == 0o600
    output.chmod(0o4640)  # set-user-id: not carried over to a file of the runner's
    assert runner.invoke(main, ["feed", str(converted), "-o", str(output)]).exit_code == 0
    assert output.stat().st_mode & 0o7777 == 0o640
