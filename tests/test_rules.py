"""User rules files: they change the output, broken ones stop the run, and explain shows the rules at work."""

from __future__ import annotations

import io
import json
import re

import pytest
from conftest import DEFAULT_FETCHED, ROOT, SAMPLES, load_cases, make_dump, split_front_matter

from feedclean.cli import main

DW = SAMPLES / "000_005ff02dac068fcc.txt"
RFI = SAMPLES / "003_1fddeb10f9e1ef9b.txt"


def _convert(runner, tmp_path, case, with_rules):
    dump = tmp_path / "dump.txt"
    dump.write_text(make_dump(case["body"], url=case["url"], fetched=case.get("fetched", DEFAULT_FETCHED)), encoding="utf-8")
    arguments = ["convert", str(dump), "-o", str(tmp_path / "out"), "-j", "1", "--format", "json", "--force"]
    if with_rules:
        rules = tmp_path / "rules.toml"
        rules.write_text(case["rules"], encoding="utf-8")
        arguments += ["--rules", str(rules)]
    result = runner.invoke(main, arguments)
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "out" / "dump.json").read_text(encoding="utf-8"))


def _expect(document, expect):
    if "body" in expect:
        assert document["markdown"] == expect["body"]
    for fragment in expect.get("contains", []):
        assert fragment in document["markdown"]
    for key, value in expect.get("meta", {}).items():
        assert document[key] == value


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in load_cases("rules.yaml")])
def test_user_rule_changes_the_output(runner, tmp_path, case):
    _expect(_convert(runner, tmp_path, case, with_rules=True), case["expect"])
    if "without" in case:
        _expect(_convert(runner, tmp_path, case, with_rules=False), case["without"])


def test_default_user_file_is_read_and_can_be_ignored(runner, tmp_path):
    config = tmp_path / "config" / "feedclean"
    config.mkdir(parents=True)
    (config / "rules.toml").write_text('[[rule]]\nhosts = ["example.com"]\nstrip_text = ["Sponsored"]\n', encoding="utf-8")
    dump = tmp_path / "d.txt"
    dump.write_text(make_dump("<p>Kept text.</p><p>Sponsored</p>"), encoding="utf-8")
    result = runner.invoke(main, ["convert", "-"], input=dump.read_bytes())
    assert split_front_matter(result.stdout)[1].strip() == "Kept text."
    result = runner.invoke(main, ["convert", "-", "--no-user-rules"], input=dump.read_bytes())
    assert "Sponsored" in result.stdout
    listing = json.loads(runner.invoke(main, ["rules", "--json"]).stdout)
    assert listing[-1]["origin"].startswith(str(config / "rules.toml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\nhosts = ["a.com"\nstrip = []\n', "invalid TOML"),
        ('[[rule]]\nhosts = ["a.com"]\nstrips = [".x"]\n', "line 3: unknown key 'strips'"),
        ('[[rule]]\nhosts = ["a.com"]\nstrip = ["div[[["]\n', "line 3: invalid CSS selector in 'strip'"),
        ('[[rule]]\nhosts = ["a.com"]\nstrip_text = ["(unclosed"]\n', "line 3: invalid regular expression in 'strip_text'"),
        ('[[rule]]\nhosts = ["a.com"]\ntimezone = "Mars/Olympus"\n', "line 3: unknown time zone 'Mars/Olympus'"),
        ('[[rule]]\nstrip = [".x"]\n', "'hosts' must be a non-empty list"),
        ('[[rule]]\nhosts = ["a.com"]\nunwrap = [{ host = "p.com" }]\n', "'unwrap' must be a table with host and param"),
        ('[[rule]]\nhosts = ["a.com"]\nrewrite_links = [{ pattern = "a", replace = "\\\\2" }]\n', "refers to a group"),
        ('[[rule]]\nhosts = ["a.com"]\ntimezone = "Asia"\n', "line 3: unknown time zone 'Asia'"),
        ('[[rule]]\nhosts = ["a.com"]\nstrip = ["ns|p"]\n', "line 3: invalid CSS selector in 'strip': 'ns|p'"),
        ('[[rule]]\nhosts = ["a.com"]\ndate_format = ["%Y %Q"]\n', "line 3: invalid date format in 'date_format'"),
        ('[[rule]]\nhosts = ["exa mple.com"]\n', "line 2: 'exa mple.com' in 'hosts' is not a domain name"),
        (
            '[[rule]]\nhosts = ["a.com"]\nstrip_text = ["x"]\n\n[[rule]]\nhosts = ["b.com"]\nstrip_text = ["["]\n',
            "rule 2, line 7",
        ),
        ('# times in Tokyo\n[[rule]]\nhosts = ["a.com"]\ntimezone = "Tokyo"\n', "line 4: unknown time zone 'Tokyo'"),
        ('[[rule]]\nhosts = ["a.com"]\ndate_format = ["%Y %d %Y"]\n', "line 3: invalid date format in 'date_format': '%Y %d %Y'"),
        ('[[rule]]\nname = "A"\n\n[[rule]]\nhosts = ["b.com"]\n', "rule 1, line 1: 'hosts' must be"),
        ('# my rules\n[[rules]]\nhosts = ["a.com"]\n', "line 2: unknown top-level key 'rules'"),
    ],
)
def test_broken_rules_file_exits_2_naming_file_and_problem(runner, tmp_path, text, message):
    rules = tmp_path / "broken.toml"
    rules.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(main, ["convert", str(RFI), "-o", str(out), "--rules", str(rules)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if "broken.toml" in line]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output and "Usage:" not in result.output
    assert not out.exists(), "nothing may be converted with a broken rules file"


def test_missing_rules_file(runner, tmp_path):
    result = runner.invoke(main, ["convert", str(RFI), "-o", str(tmp_path / "out"), "--rules", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "nope.toml" in result.output


def test_rules_lists_builtin_and_user_rules(runner, tmp_path):
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nhosts = ["example.com"]\nname = "Example"\nstrip = [".ad"]\n', encoding="utf-8")
    table = runner.invoke(main, ["rules", "--rules", str(rules)])
    assert table.exit_code == 0
    assert "built-in, rule 1" in table.stdout and "mine.toml, rule 1" in table.stdout and "Example" in table.stdout
    listing = json.loads(runner.invoke(main, ["rules", "--rules", str(rules), "--json"]).stdout)
    assert listing[-1] == {"origin": f"{rules}, rule 1", "hosts": ["example.com"], "name": "Example", "strip": [".ad"]}
    assert any(rule.get("name") == "DW" for rule in listing)


def test_explain_rfi_names_share_widget_and_footer(runner):
    report = json.loads(runner.invoke(main, ["explain", str(RFI), "--json"]).stdout)
    removed = {item["what"]: item for item in report["removed"]}
    assert "分享" in removed["share widget"]["excerpt"]
    assert "share_links 'facebook.com/dialog/share'" in removed["share widget"]["rule"]
    assert "获取更多RSS" in removed["feed-proxy footer"]["excerpt"]
    assert "footer_links 'feedx.net'" in removed["feed-proxy footer"]["rule"]
    assert any("selfpromo" in item["excerpt"] for item in report["removed"])
    published = next(item for item in report["metadata"] if item["field"] == "published")
    assert published["value"] == "2024-04-03T23:33:00+02:00" and "Europe/Paris" in published["from"]


def test_explain_dw_names_unwrapped_images(runner):
    report = json.loads(runner.invoke(main, ["explain", str(DW), "--json"]).stdout)
    unwrapped = [item for item in report["rewritten"] if item["rule"].startswith("unwrap 'images.weserv.nl'")]
    assert [(item["before"], item["after"]) for item in unwrapped] == [
        (f"https://images.weserv.nl/?url=static.dw.com/image/{n}_303.jpg", f"https://static.dw.com/image/{n}_303.jpg")
        for n in (64567580, 66112703, 66182779)
    ]
    assert sum(item["rule"].startswith("rewrite_links") for item in report["rewritten"]) == 4
    rights = next(item for item in report["metadata"] if item["field"] == "rights")
    assert rights["value"].startswith("© 2023")


def test_explain_tree_on_a_terminal_like_stream(runner):
    result = runner.invoke(main, ["explain", str(RFI)])
    assert result.exit_code == 0
    assert "share widget" in result.stdout and "feed-proxy footer" in result.stdout and "\x1b[" not in result.stdout


def test_explain_names_a_user_rule(runner, tmp_path):
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nhosts = ["example.com"]\nstrip = [".ad"]\n', encoding="utf-8")
    dump = tmp_path / "d.txt"
    dump.write_text(make_dump('<p>Text.</p><div class="ad">Buy</div>'), encoding="utf-8")
    report = json.loads(runner.invoke(main, ["explain", str(dump), "--json", "--rules", str(rules)]).stdout)
    assert report["removed"] == [{"what": "element", "excerpt": "<div class='ad'> Buy", "rule": f"strip '.ad' ({rules}, rule 1)"}]


def test_explain_off_a_terminal_cuts_no_line(runner):
    """Piped, the tree is plain text with every value whole (the RFI URL is 268 characters)."""
    result = runner.invoke(main, ["explain", str(RFI)])
    url = RFI.read_text(encoding="utf-8").split("](", 1)[1].split(")", 1)[0]
    assert f"url: {url}" in result.stdout and "\x1b[" not in result.stdout


def test_explain_says_readability_cut_a_whole_page(runner):
    report = json.loads(runner.invoke(main, ["explain", str(SAMPLES / "page_full.html"), "--json"]).stdout)
    assert report["removed"][0]["what"] == "page outside the article"
    assert "<nav>" in report["removed"][0]["excerpt"] and "readability" in report["removed"][0]["rule"]


def test_explain_names_the_date_format_rule_and_says_when_no_date_was_found(runner, tmp_path):
    report = json.loads(runner.invoke(main, ["explain", str(RFI), "--json"]).stdout)
    published = next(item for item in report["metadata"] if item["field"] == "published")
    assert "date_format '%d/%m/%Y - %H:%M' (built-in, rule" in published["from"]
    dump = tmp_path / "d.txt"
    dump.write_text(make_dump("<p>No date anywhere in this text.</p>"), encoding="utf-8")
    report = json.loads(runner.invoke(main, ["explain", str(dump), "--json"]).stdout)
    published = next(item for item in report["metadata"] if item["field"] == "published")
    assert published["value"] == "(none)" and "no date line" in published["from"]


def test_rules_table_fits_a_narrow_terminal(runner, tmp_path, monkeypatch):
    """At 80 columns every column keeps room: a long origin path wraps instead of squeezing the rest."""
    monkeypatch.setenv("COLUMNS", "80")
    rules = tmp_path / ("a-rather-long-folder-name-" * 3) / "mine.toml"
    rules.parent.mkdir()
    rules.write_text('[[rule]]\nhosts = ["news.example.com"]\nname = "Example"\nstrip = [".ad"]\n', encoding="utf-8")
    from feedclean.explain import print_rules, rules_listing
    from feedclean.rules import BUILTIN

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    print_rules(rules_listing(BUILTIN.with_files([rules])), stream)
    table = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())
    assert "news.example.com" in table and "strip: .ad" in table and "Example" in table
    assert max(len(line) for line in table.splitlines()) <= 80


def test_the_worked_example_in_the_docs_does_what_it_says(runner, tmp_path):
    """docs/rules.md's dump and rules file, as written there: test_docs only sees the example exit 0."""
    page = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    example = page[page.index("## Worked example") :]
    example = example[: example.index("\n```\n")]
    for name, text in re.findall(r"^cat > (\S+) <<'EOF'\n(.*?\n)EOF$", example, re.M | re.S):
        (tmp_path / name).write_text(text, encoding="utf-8")
    dump, rules = str(tmp_path / "dump.txt"), str(tmp_path / "example.toml")
    before = json.loads(runner.invoke(main, ["explain", dump, "--json"]).stdout)
    published = next(item for item in before["metadata"] if item["field"] == "published")
    assert before["removed"] == [] and published["value"] == "(none)"
    document = json.loads(runner.invoke(main, ["convert", dump, "--rules", rules, "--format", "json"]).stdout)
    assert document["markdown"] == (
        "![](https://cdn.example.com/a/train.jpg)\n\n"
        "The new line opens on Monday, the operator said, after three years of building work."
    )
    assert document["published"] == "2024-04-03T10:05:00+09:00"
    assert document["source"] == {"name": "Example News", "domain": "news.example.com"}
    report = json.loads(runner.invoke(main, ["explain", dump, "--rules", rules, "--json"]).stdout)
    removed = [item["rule"] for item in report["removed"]]
    assert any(rule.startswith("strip '.related-box' (") and rule.endswith("example.toml, rule 1)") for rule in removed)


def test_the_built_in_rules_pass_the_checks_user_rules_get():
    """They load unchecked at every start (for speed), so the checks run here."""
    from importlib import resources

    from feedclean.rulesfile import parse_rules

    text = resources.files("feedclean").joinpath("rules/builtin.toml").read_text(encoding="utf-8")
    assert len(parse_rules(text, "built-in")) >= 10


def test_explain_lists_a_promo_in_nested_wrappers_once(runner, tmp_path):
    dump = tmp_path / "d.txt"
    body = "<div><span><section><div><p>Follow us on Telegram.</p></div></section></span></div>"
    dump.write_text(make_dump(body), encoding="utf-8")
    report = json.loads(runner.invoke(main, ["explain", str(dump), "--json"]).stdout)
    assert [item["what"] for item in report["removed"]] == ["text block"]


def test_explain_stops_a_backtracking_rule_at_the_time_limit(runner, tmp_path):
    """`explain` is where a rule being written is tried, so a regex that backtracks must not hang it."""
    rules = tmp_path / "slow.toml"
    rules.write_text('[[rule]]\nhosts = ["*"]\nstrip_text = ["(a+)+$"]\n', encoding="utf-8")
    dump = tmp_path / "d.txt"
    dump.write_text(make_dump(f"<p>{'a' * 40}b</p>"), encoding="utf-8")
    result = runner.invoke(main, ["explain", str(dump), "--rules", str(rules), "--timeout", "0.5"])
    assert result.exit_code == 1
    assert "took longer than 0.5 s" in result.output and "Traceback" not in result.output


def test_a_broken_rules_file_leaves_no_stale_report(runner, tmp_path):
    """cron reads the report: a run stopped by its rules file must not look like the last good one."""
    dump = tmp_path / "in" / "d.txt"
    dump.parent.mkdir()
    dump.write_text(make_dump("<p>Story text.</p>"), encoding="utf-8")
    report = tmp_path / "report.json"
    arguments = ["convert", str(dump.parent), "-o", str(tmp_path / "out"), "--report", str(report)]
    assert runner.invoke(main, arguments).exit_code == 0
    rules = tmp_path / "broken.toml"
    rules.write_text("[[rule]]\nhosts = [", encoding="utf-8")
    assert runner.invoke(main, [*arguments, "--rules", str(rules)]).exit_code == 2
    assert "broken.toml" in json.loads(report.read_text(encoding="utf-8"))["error"]


def test_hosts_matching_the_same_rules_share_one_compiled_set():
    """A folder from thousands of sites compiles a few rule sets, not one per host."""
    from feedclean.rules import BUILTIN

    assert BUILTIN.for_host("a.example.org") is BUILTIN.for_host("b.example.net")
    assert BUILTIN.for_host("www.dw.com") is not BUILTIN.for_host("a.example.org")


def test_a_rule_set_in_use_still_pickles_for_spawned_workers():
    import pickle

    from feedclean.rules import BUILTIN

    BUILTIN.for_host("www.dw.com")
    copy = pickle.loads(pickle.dumps(BUILTIN))
    assert copy.digest_source == BUILTIN.digest_source
    assert copy.for_host("www.dw.com").strip_text.match("Follow DW on Instagram!") is not None


def test_a_rule_set_cannot_be_changed_in_place():
    """Its compiled sites are cached and the built-in rules load on first use, so a list changed
    in place would be lost by with_files and pickling: the rules are a tuple."""
    from feedclean.rules import BUILTIN

    with pytest.raises(AttributeError):
        BUILTIN.rules.append(BUILTIN.rules[0])
    assert BUILTIN.with_files([]).rules == BUILTIN.rules


def test_explain_shows_brackets_and_backslashes_as_written(runner, tmp_path):
    """Titles and excerpts are the input's words: never read as rich markup, never doubled."""
    dump = tmp_path / "we[ir]d[red].txt"
    body = '<p>Story.</p><div><a href="https://facebook.com/sharer.php?u=1">[/] Share \\</a></div>'
    dump.write_text(make_dump(body, title="T [/x] [bold]b\\"), encoding="utf-8")
    result = runner.invoke(main, ["explain", str(dump)])
    assert result.exit_code == 0, result.output
    assert "we[ir]d[red].txt (utf-8)" in result.stdout
    assert "title: T [/x] [bold]b\\\n" in result.stdout and "[/] Share \\\n" in result.stdout


def test_rules_table_shows_attribute_selectors_as_written(runner, tmp_path):
    rules = tmp_path / "mine.toml"
    text = '[[rule]]\nhosts = ["example.com"]\nname = "[bold]Ex"\nstrip = ["[data-x]", "a[href^=\'x\']"]\n'
    rules.write_text(text, encoding="utf-8")
    result = runner.invoke(main, ["rules", "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert "[bold]Ex" in result.stdout and "strip: [data-x], a[href^='x']" in result.stdout


def test_text_rules_spaces_are_every_whitespace_character():
    """The written-out set of what \\s can start a text with must not miss one str.isspace() knows."""
    import sys

    from feedclean.textrules import _SPACES

    assert frozenset(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()) == _SPACES


def test_a_text_rule_is_compiled_when_first_tried_and_still_matches(tmp_path):
    """Rules compile on first use; a bad pattern in a user file is still refused when the file is read."""
    from feedclean.rulesfile import RulesError, load_rules_file
    from feedclean.textrules import TextRules

    rules = TextRules([("the end\\.?", "mine"), ("(?!x)anything", "open")])
    assert rules.match("The end.") == ("the end\\.?", "mine")
    assert rules.match("Anything") == ("(?!x)anything", "open")
    assert rules.match("the ending") is None
    broken = tmp_path / "rules.toml"
    broken.write_text('[[rule]]\nhosts = ["*"]\nstrip_text = ["(unclosed"]\n', encoding="utf-8")
    with pytest.raises(RulesError, match="strip_text"):
        load_rules_file(broken)
