"""`feedclean learn`: what recurs in a host's archive is proposed as rules, and nothing else is.

The archive below is written for these tests: a host whose articles all end in the same promo
(with a recurring lead, heading, caption, label, separator and bold line beside it, none of which
may be learned), a host whose one repeated sentence is too rare, an article saved four times, a feed
file, and a host where one article is nothing but a sentence that recurs in the others.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_dump
from hypothesis import given, settings
from hypothesis import strategies as st

from feedclean.article import InputError
from feedclean.cli import main
from feedclean.learn import LearnOptions, learn, matches_exactly, rules_text, sentence_pattern, toml_string
from feedclean.limits import ProcessDied, TimedOut, TimeLimitedCalls
from feedclean.rules import BUILTIN
from feedclean.rulesfile import load_rules_file

PROMO = "Join our reading club every Friday at the library."
PODCAST = "Listen to the gamma podcast on Sunday mornings."
RARE = "The museum opens late on Thursdays."
GONE = "Gone fishing until Monday, back with the boats."
ALPHA_LEAD = "Notes from the alpha desk, written each week by the harbour team."
ENV = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent-feedclean-test-config"}
# A rules file whose pattern backtracks for ever on a paragraph of a's and a "!".
BACKTRACKING_RULES = "[[rule]]\nhosts = [\"*\"]\nstrip_text = ['(a+)+$']\n"


def _write(root: Path, relative: str, body: str, url: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(make_dump(body, title=f"Story {relative}", url=url), encoding="utf-8")
    return path


def _alpha_body(number: int) -> str:
    """An alpha article: the same lead, heading, caption, label, separator, bold heading-like line
    and promo each time."""
    return (
        f"<p>{ALPHA_LEAD}</p><h2>Background</h2>"
        f"<p>The harbour report number {number} tells of boats, tides and the weather at sea.</p>"
        '<figure><img src="https://alpha.example/boat.jpg"><figcaption>Photo: alpha archive</figcaption></figure>'
        f"<p>Key points:</p><ul><li>Point {number} about the nets.</li><li>Another point, {number}.</li></ul>"
        f"<p>* * *</p><p><strong>Quick facts</strong></p><p>Tides were {number} metres high on the day.</p><p>{PROMO}</p>"
    )


def _feed(items: list[tuple[str, str]]) -> str:
    entries = "".join(
        f"<item><title>Item {index}</title><link>{link}</link><description><![CDATA[{body}]]></description></item>"
        for index, (link, body) in enumerate(items)
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Gamma</title>{entries}</channel></rss>'


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "dumps"
    for number in range(5):
        _write(root, f"alpha/{number:03}.txt", _alpha_body(number), f"https://www.alpha.example/news/{number}")
    for number in range(10):
        rare = f"<p>{RARE}</p>" if number < 2 else ""
        body = f"<p>Beta story {number} begins at the market.</p><p>Stall {number} sold apples and pears.</p>{rare}"
        _write(root, f"beta/{number:03}.txt", body, f"https://beta.example/story/{number}")
    for number in range(4):  # one article fetched four times (a correction came in later)
        correction = "<p>Correction: it leaves from the second pier.</p>" if number else ""
        body = f"<p>The ferry leaves at noon.</p><p>Tickets are sold on board only.</p>{correction}"
        _write(root, f"beta/ferry-{number}.txt", body, f"https://beta.example/story/ferry?utm_source=feed{number}")
    # One feed item carries the podcast line (too few for the feed's own recurring-text rule),
    # and two later dumps of the same host do: three of its five articles.
    items = [
        (
            f"https://gamma.example/items/{number}",
            f"<p>Gamma item {number} is about the choir.</p>" + (f"<p>{PODCAST}</p>" if number == 0 else ""),
        )
        for number in range(3)
    ]
    (root / "gamma").mkdir()
    (root / "gamma" / "feed.xml").write_text(_feed(items), encoding="utf-8")
    for number in range(2):
        body = f"<p>Gamma episode {number} visits the organ builders.</p><p>{PODCAST}</p>"
        _write(root, f"gamma/later-{number}.txt", body, f"https://gamma.example/episodes/{number}")
    for number in range(3):  # a recurring sentence that is all of one delta article is never boilerplate
        body = f"<p>Delta note {number} on the lake.</p><p>{GONE}</p>"
        _write(root, f"delta/{number}.txt", body, f"https://delta.example/notes/{number}")
    _write(root, "delta/only.txt", f"<p>{GONE}</p>", "https://delta.example/notes/only")
    return root


def _learned(archive: Path, **options: object) -> dict[str, list[tuple[str, int, str]]]:
    learned = learn([archive], BUILTIN, LearnOptions(**options))
    return {rule.host: [(s.text, s.articles, s.example) for s in rule.sentences] for rule in learned.rules}


def test_learns_what_recurs_per_host_and_nothing_else(archive):
    assert _learned(archive) == {
        "alpha.example": [(PROMO, 5, f"{archive}/alpha/000.txt")],
        "gamma.example": [(PODCAST, 3, f"{archive}/gamma/feed.xml")],
    }


def test_an_article_counts_once_however_many_dumps_hold_it(archive):
    learned = learn([archive], BUILTIN, LearnOptions(min_articles=2, min_share=0.01))
    beta = next(rule for rule in learned.rules if rule.host == "beta.example")
    assert [(s.text, s.articles) for s in beta.sentences] == [(RARE, 2)]
    assert beta.articles == 11
    assert learned.articles == 5 + 11 + 5 + 4


@pytest.mark.parametrize(
    ("options", "beta"),
    [
        ({}, []),  # two of eleven: under three articles and under 20%
        ({"min_articles": 2}, []),  # 18% is still under 20%
        ({"min_articles": 2, "min_share": 0.15}, [RARE]),
        ({"min_articles": 2, "min_share": 0.19}, []),
    ],
)
def test_thresholds(archive, options, beta):
    assert [text for text, _, _ in _learned(archive, **options).get("beta.example", [])] == beta


def test_short_blocks_only(archive):
    assert _learned(archive, max_chars=len(PROMO) - 1) == {"gamma.example": [(PODCAST, 3, f"{archive}/gamma/feed.xml")]}


def test_a_share_is_not_lost_to_rounding(tmp_path):
    """3 of 15 is 20%, though 0.2 × 15 is 3.0000000000000004 in floating point."""
    for number in range(15):
        promo = f"<p>{PROMO}</p>" if number < 3 else ""
        body = f"<p>Lead {number} of the day.</p><p>Story {number} goes on.</p>{promo}"
        _write(tmp_path, f"{number}.txt", body, f"https://epsilon.example/{number}")
    assert _learned(tmp_path) == {"epsilon.example": [(PROMO, 3, f"{tmp_path}/0.txt")]}


def test_articles_without_a_host_teach_nothing(tmp_path):
    for number in range(4):
        (tmp_path / f"{number}.html").write_text(f"<p>Fragment {number}.</p><p>{PROMO}</p>", encoding="utf-8")
        _write(tmp_path, f"tld-{number}.txt", f"<p>Lead {number}.</p><p>{PROMO}</p>", f"https://localhost/{number}")
    learned = learn([tmp_path], BUILTIN, LearnOptions())
    assert learned.rules == [] and learned.articles == 0 and learned.without_host == 8


def test_the_file_loads_as_rules_and_says_what_made_it(archive, runner, tmp_path):
    output = tmp_path / "learned.toml"
    result = runner.invoke(main, ["learn", str(archive), "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert result.stderr == "feedclean: learned 2 sentences for 2 hosts from 25 articles\n"
    text = output.read_text(encoding="utf-8")
    assert text.startswith(f"# Boilerplate learned by feedclean learn 0.1.0 from: {archive}\n")
    assert "at least 3 articles" in text and "at least 20% of that site's articles" in text
    comment = f"    # 5 of 5 articles, e.g. {archive}/alpha/000.txt\n"
    assert comment + "    'Join our reading club every Friday at the library\\.',\n" in text
    rules = load_rules_file(output)
    assert [(rule.hosts, rule.values) for rule in rules] == [
        (("alpha.example",), {"strip_text": (sentence_pattern(PROMO),)}),
        (("gamma.example",), {"strip_text": (sentence_pattern(PODCAST),)}),
    ]


def _converted(runner: CliRunner, archive: Path, out: Path, *rules: str) -> dict[str, str]:
    result = runner.invoke(main, ["convert", str(archive), "-o", str(out), "-j", "1", "--format", "json", *rules])
    assert result.exit_code == 0, result.output
    return {
        path.relative_to(out).as_posix(): json.loads(path.read_text(encoding="utf-8"))["markdown"]
        for path in sorted(out.rglob("*.json"))
    }


def test_convert_with_the_learned_rules_removes_the_promo_and_nothing_else(archive, runner, tmp_path):
    learned = tmp_path / "learned.toml"
    assert runner.invoke(main, ["learn", str(archive), "-o", str(learned)]).exit_code == 0
    before = _converted(runner, archive, tmp_path / "before")
    after = _converted(runner, archive, tmp_path / "after", "--rules", str(learned))
    assert before.keys() == after.keys() and len(before) == 5 + 14 + 5 + 4
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {name for name in before if name.startswith("alpha/") or PODCAST in before[name]}
    assert sum(name.startswith("gamma/") for name in changed) == 3
    for name in changed:
        promo = PROMO if name.startswith("alpha/") else PODCAST
        assert before[name].replace(f"\n\n{promo}", "") == after[name]
        assert promo not in after[name]


def test_explain_names_the_learned_rule_by_file_and_number(archive, runner, tmp_path):
    learned = tmp_path / "learned.toml"
    assert runner.invoke(main, ["learn", str(archive), "-o", str(learned)]).exit_code == 0
    result = runner.invoke(main, ["explain", "--json", "--rules", str(learned), str(archive / "gamma" / "feed.xml")])
    assert result.exit_code == 0, result.output
    removed = [item for report in json.loads(result.stdout)["items"] for item in report["removed"]]
    assert {item["rule"] for item in removed} == {f"strip_text '{sentence_pattern(PODCAST)}' ({learned}, rule 2)"}
    assert len(removed) == 1


def test_learning_again_with_the_learned_rules_finds_nothing_new(archive, runner, tmp_path):
    learned = tmp_path / "learned.toml"
    assert runner.invoke(main, ["learn", str(archive), "-o", str(learned)]).exit_code == 0
    result = runner.invoke(main, ["learn", str(archive), "--rules", str(learned)])
    assert result.exit_code == 0, result.output
    assert "[[rule]]" not in result.stdout and "# Nothing recurred often enough to be learned." in result.stdout
    assert result.stderr == "feedclean: learned 0 sentences for 0 hosts from 25 articles\n"


def test_the_same_inputs_give_the_same_bytes(archive, runner, tmp_path):
    first = runner.invoke(main, ["learn", str(archive)])
    output = tmp_path / "learned.toml"
    for _ in range(2):  # the second run replaces the file learn wrote
        assert runner.invoke(main, ["learn", str(archive), "-o", str(output)]).exit_code == 0
        assert output.read_bytes() == first.stdout_bytes


@pytest.mark.parametrize("where", ["input", "symlink to input", "input folder", "rules file", "user rules file", "foreign file"])
def test_output_never_replaces_an_input_a_rules_file_or_a_file_of_yours(archive, runner, tmp_path, where):
    dump = archive / "alpha" / "000.txt"
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nhosts = ["alpha.example"]\nstrip = [".ad"]\n', encoding="utf-8")
    user_rules = tmp_path / "config" / "feedclean" / "rules.toml"
    user_rules.parent.mkdir(parents=True)
    user_rules.write_text(rules.read_text(encoding="utf-8"), encoding="utf-8")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("my notes\n", encoding="utf-8")
    link = tmp_path / "link.toml"
    link.symlink_to(dump)
    output = {
        "input": dump,
        "symlink to input": link,
        "input folder": archive / "learned.toml",
        "rules file": rules,
        "user rules file": user_rules,
        "foreign file": foreign,
    }[where]
    before = {path: path.read_bytes() for path in (dump, rules, user_rules, foreign)}
    result = runner.invoke(main, ["learn", str(archive), "--rules", str(rules), "-o", str(output)])
    assert result.exit_code == 2, result.output
    assert str(output) in result.output
    assert {path: path.read_bytes() for path in before} == before
    assert not (archive / "learned.toml").exists()


def test_a_bad_input_is_one_line_and_the_file_is_still_written(archive, runner, tmp_path):
    (archive / "beta" / "empty.txt").write_bytes(b"")
    (archive / "beta" / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    output = tmp_path / "learned.toml"
    result = runner.invoke(main, ["learn", str(archive), "-o", str(output)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"feedclean: error: {archive}/beta/binary.txt: binary file (control bytes), not a text dump",
        f"feedclean: error: {archive}/beta/empty.txt: file is empty",
        "feedclean: learned 2 sentences for 2 hosts from 25 articles; 2 inputs failed",
    ]
    assert len(load_rules_file(output)) == 2


def test_a_rule_that_backtracks_costs_one_input(archive, runner, tmp_path):
    _write(archive, "alpha/stuck.txt", "<p>A lead of its own.</p><p>" + "a" * 40 + "!</p>", "https://alpha.example/stuck")
    rules = tmp_path / "slow.toml"
    rules.write_text(BACKTRACKING_RULES, encoding="utf-8")
    result = runner.invoke(main, ["learn", str(archive), "--rules", str(rules), "--timeout", "1"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"feedclean: error: {archive}/alpha/stuck.txt: took longer than 1 s to convert")
    assert "'Join our reading club every Friday at the library\\.'" in result.stdout


def test_a_file_name_cannot_write_rules_through_its_comment(archive, runner):
    hostile = "000\n[[rule]]\nhosts = ['*']\nstrip_text = ['.*']\n\u202e#.txt"
    _write(archive, f"alpha/{hostile}", _alpha_body(9), "https://alpha.example/news/9")
    result = runner.invoke(main, ["learn", str(archive / "alpha")])
    assert result.exit_code == 0, result.output
    assert "e.g. " + str(archive / "alpha") + "/000\\x0a[[rule]]\\x0ahosts = ['*']\\x0a" in result.stdout
    assert "\\u202e#.txt" in result.stdout
    assert [rule["hosts"] for rule in tomllib.loads(result.stdout)["rule"]] == [["alpha.example"]]


def test_usage_errors(archive, runner):
    for arguments in (["--min-share", "nan"], ["--min-share", "0"], ["--min-articles", "1"], ["--max-chars", "601"]):
        result = runner.invoke(main, ["learn", str(archive), *arguments])
        assert result.exit_code == 2, (arguments, result.output)
    assert runner.invoke(main, ["learn"]).exit_code == 2
    broken = archive.parent / "broken.toml"
    broken.write_text("[[rule]]\nhosts = 1\n", encoding="utf-8")
    result = runner.invoke(main, ["learn", str(archive), "--rules", str(broken)])
    assert result.exit_code == 2 and "'hosts' must be a non-empty list" in result.output


def test_help_has_examples(runner):
    result = runner.invoke(main, ["learn", "--help"])
    assert result.exit_code == 0
    assert "feedclean learn dumps/ -o learned.toml" in result.output
    assert "feedclean convert dumps/ -o out/ --rules learned.toml" in result.output
    assert "crontab" in result.output


def test_a_real_run_is_quiet_off_a_terminal(archive, tmp_path):
    output = tmp_path / "learned.toml"
    command = [sys.executable, "-m", "feedclean", "learn", str(archive), "--glob", "*.txt", "-o", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "feedclean: learned 1 sentence for 1 host from 22 articles\n"
    assert [rule.hosts for rule in load_rules_file(output)] == [("alpha.example",)]


def test_ctrl_c_stops_the_run_and_writes_nothing(archive, tmp_path):
    _write(archive, "alpha/stuck.txt", "<p>A lead of its own.</p><p>" + "a" * 40 + "!</p>", "https://alpha.example/stuck")
    rules = tmp_path / "slow.toml"
    rules.write_text(BACKTRACKING_RULES, encoding="utf-8")
    output = tmp_path / "learned.toml"
    command = [sys.executable, "-m", "feedclean", "learn", str(archive), "--rules", str(rules), "-o", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    time.sleep(3)  # long enough to be stuck on alpha/stuck.txt
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.endswith("feedclean: interrupted\n")
    assert not output.exists() and not list(tmp_path.glob(".*feedclean-tmp"))


@pytest.mark.parametrize(
    "text",
    [
        "Price: $5 (or 10?) [sale] *today*.",
        r"A back\slash, a caret^ and a pipe | too.",
        "Don't miss our weekly letter.",
        "Ends with a quote'",
        "Three quotes ''' inside.",
        "Straße und Maße: jeden Tag.",
        "İstanbul bülteni her sabah.",
        "关注我们的公众号，获取每日新闻。",
        "An invisible\u200bspace and a \u202ebidi override.",
    ],
)
def test_a_sentence_is_written_as_a_pattern_that_matches_exactly_it(text):
    pattern = sentence_pattern(text)
    assert matches_exactly(pattern, text)
    assert tomllib.loads(f"p = {toml_string(pattern)}")["p"] == pattern
    assert pattern.isprintable()
    assert not matches_exactly(pattern, text + " And more.")


def test_a_pattern_is_readable():
    assert sentence_pattern("Price: $5 (or 10?) [sale] *today*.") == r"Price: \$5 \(or 10\?\) \[sale\] \*today\*\."
    assert sentence_pattern("关注我们 的公众号") == "关注我们 的公众号"
    assert toml_string(r"a\.b") == r"'a\.b'"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_any_text_round_trips_through_its_pattern_and_toml(raw):
    text = " ".join(raw.split())
    if text:
        pattern = sentence_pattern(text)
        assert matches_exactly(pattern, text)
        assert tomllib.loads(f"p = {toml_string(pattern)}")["p"] == pattern


def test_rules_text_without_rules_is_still_a_rules_file(tmp_path):
    learned = learn([tmp_path], BUILTIN, LearnOptions())
    assert tomllib.loads(rules_text(learned)) == {}


def _pid_or_fail(action: str) -> int:
    """What a kept child does when asked: say who it is, fail, hang, or die."""
    if action == "fail":
        raise InputError("this input is bad")
    if action == "hang":
        time.sleep(60)
    if action == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def test_time_limited_calls_keep_one_child_and_lose_it_only_to_a_bad_call():
    with TimeLimitedCalls(1, _pid_or_fail) as call:
        child = call("pid")
        assert child != os.getpid() and call("pid") == child  # kept: its caches (compiled rules) live on
        with pytest.raises(InputError, match="this input is bad"):
            call("fail")
        assert call("pid") == child
        with pytest.raises(TimedOut):
            call("hang")
        replaced = call("pid")
        assert replaced != child
        with pytest.raises(ProcessDied):
            call("die")
        os.kill(survivor := call("pid"), signal.SIGKILL)  # dies while waiting: the next call is not to blame
        time.sleep(0.2)
        assert call("pid") not in (survivor, os.getpid())
    with TimeLimitedCalls(0, _pid_or_fail) as call:
        assert call("pid") == os.getpid()


def test_a_long_article_is_counted_by_its_start_and_end(tmp_path):
    """Past a thousand short blocks only those at either end count: a page of a million one-line
    paragraphs must not hold the run's memory, and boilerplate sits at the ends."""
    middle = "".join(f"<p>Line {index} of the list.</p>" for index in range(1500))
    for number in range(3):
        _write(tmp_path, f"{number}.txt", f"<p>Lead {number}.</p>{middle}<p>{PROMO}</p>", f"https://long.example/{number}")
    learned = [text for text, _, _ in _learned(tmp_path)["long.example"]]
    assert len(learned) == 1000 and PROMO in learned and "Line 499 of the list." in learned
    assert "Line 500 of the list." not in learned and "Line 1000 of the list." not in learned
    assert "Line 1001 of the list." in learned


def test_rules_too_large_for_a_rules_file_are_not_written(tmp_path, runner):
    sentences = "".join(f"<p>{f'Sentence number {index} of the long list, ' * 4}the end.</p>" for index in range(900))
    for host in range(8):
        for number in range(3):
            _write(
                tmp_path / "in", f"{host}/{number}.txt", f"<p>Lead {number}.</p>{sentences}", f"https://h{host}.example/{number}"
            )
    output = tmp_path / "learned.toml"
    result = runner.invoke(main, ["learn", str(tmp_path / "in"), "-o", str(output)])
    assert result.exit_code == 1
    assert "more than a rules file may hold (1,048,576): raise --min-articles or --min-share" in result.stderr
    assert not output.exists()


def test_a_feed_s_own_recurring_sentence_is_gone_before_learning(tmp_path):
    """A linked sentence in most items of one feed file is removed by the conversion itself (recurring.py),
    so learning, which proposes only what the conversion leaves, has nothing to propose for it."""
    listen = '<p>Listen to every episode on <a href="https://podcasts.example.net/epsilon">your podcast app</a>.</p>'
    items = [(f"https://epsilon.example/items/{n}", f"<p>Epsilon item {n} is about boats.</p>{listen}") for n in range(4)]
    (tmp_path / "feed.xml").write_text(_feed(items), encoding="utf-8")
    learned = learn([tmp_path], BUILTIN, LearnOptions())
    assert learned.articles == 4 and learned.rules == []


def test_a_publisher_s_subdomains_are_learned_together(tmp_path):
    """Four articles on two subdomains of one site, each carrying the site's promo: too few on
    either host alone, enough for the publisher (the rule names its registered domain)."""
    for number in range(4):
        host = ("news", "tech")[number % 2]
        body = f"<p>Zeta story {number} is about the harbour.</p><p>{PROMO}</p>"
        _write(tmp_path, f"zeta/{number}.txt", body, f"https://{host}.zeta.example/story/{number}")
    learned = learn([tmp_path], BUILTIN, LearnOptions())
    assert [(rule.host, rule.hosts) for rule in learned.rules] == [("zeta.example", ("news.zeta.example", "tech.zeta.example"))]
    assert _learned(tmp_path) == {"zeta.example": [(PROMO, 4, f"{tmp_path}/zeta/0.txt")]}


def test_a_rule_names_only_the_hosts_its_sentences_were_seen_on(tmp_path):
    """Blogs on one shared platform are counted together, but the rule covers only the blogs
    that carried the sentence, not every blog of the platform."""
    for number in range(4):
        body = f"<p>Post {number} about the allotment.</p><p>{PROMO}</p>"
        _write(tmp_path, f"b/{number}.txt", body, f"https://{('ann', 'bo')[number % 2]}.blogs.example/p/{number}")
    _write(tmp_path, "b/other.txt", "<p>A post about bees.</p><p>Bees like lavender best.</p>", "https://cy.blogs.example/p/9")
    (rule,) = learn([tmp_path], BUILTIN, LearnOptions()).rules
    assert rule.hosts == ("ann.blogs.example", "bo.blogs.example")


def test_rules_written_to_stdout_inside_an_input_folder_are_never_read_as_an_input(archive, tmp_path):
    """`feedclean learn dumps/ > dumps/learned.toml`: the file the shell opened is an input of the
    run; it is skipped with one line (as cat does), not learned from, and the rules are written."""
    output = archive / "learned.toml"
    command = f"{shlex.quote(sys.executable)} -m feedclean learn -q {shlex.quote(str(archive))} > {shlex.quote(str(output))}"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr == f"feedclean: error: {archive}/learned.toml: is the output itself; skipped\n"
    assert [rule.hosts for rule in load_rules_file(output)] == [("alpha.example",), ("gamma.example",)]


@pytest.mark.parametrize("pattern", ["a(", "(", "abc[", "\\"])
def test_matches_exactly_is_false_for_a_pattern_that_does_not_compile(pattern):
    """Text rules compile when first tried: a broken pattern is still a non-match, not an error."""
    from feedclean.learn import matches_exactly

    assert matches_exactly(pattern, pattern) is False
