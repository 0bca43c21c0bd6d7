"""`feedclean learn`: a publisher's boilerplate, learned from its own archive.

A publisher's promo, sign-up line or footer recurs in article after article;
its prose does not. So learning reads a folder of dumps through the same
cleaning as `convert` (built-in rules and the user's, so it proposes only what
they miss), counts each short block's text once per article of its host, and
keeps the texts that recur in enough of that site's articles. The result is
a rules file for a person to review, never applied by itself: `convert`'s
output stays a function of its input, options and rules.

What must never be learned is the article's own text. So an article counts
once however many dumps hold it (by canonical URL, and by content), and a text
is never learned if it is a heading (or a bold line that is no sentence), a
lead, a caption, a table cell, code, in a block with an image, or the whole of
an article anywhere in that host's archive: the learned rule would remove it
there too. Nor is a text that ends in a
colon (its rule would take along the list it introduces, each article's own),
or that is shorter than a sentence: under three words (six characters in
scripts without spaces), as an author's recurring sign-off is ("-- Jeff").

Only counts are kept while reading (per host: each text's count, first
wording and first input, and the texts it may not learn), never the trees.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from . import __version__
from .article import Article
from .learndefaults import DEFAULT_MAX_CHARS, DEFAULT_MIN_ARTICLES, DEFAULT_MIN_SHARE
from .limits import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_SECONDS, each_input, read_input
from .paths import display_path, is_inside
from .recurring import could_be_boilerplate, is_prose
from .rules import RuleSet
from .rulesfile import normalize_host
from .textrules import TextRules
from .tree import leaf_blocks, text_of
from .urls import host_of, site_of
from .write import replacement_problem

# How a file `feedclean learn` wrote begins: only such a file (or an empty one) is replaced by -o.
HEADER_START = "# Boilerplate learned by feedclean learn"

_MOST_TEXTS_PER_ARTICLE = 1000
# Characters a regular expression gives a meaning; every other printable one stands for itself.
_REGEX_SPECIAL = frozenset("\\.^$*+?{}[]()|")
_TOML_UNSAFE_IN_LITERAL = "'''"


@dataclass(frozen=True)
class LearnOptions:
    """What decides which texts are learned, and how inputs are found and read."""

    min_articles: int = DEFAULT_MIN_ARTICLES
    min_share: float = DEFAULT_MIN_SHARE
    max_chars: int = DEFAULT_MAX_CHARS
    globs: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class LearnedSentence:
    """One recurring text: as first written, the pattern that matches exactly it, in how many
    of its host's articles it was, and the first input that held it (as shown to the user)."""

    text: str
    pattern: str
    articles: int
    example: str


@dataclass(frozen=True)
class HostRule:
    """What was learned for one site (its registered domain, `host`): its sentences, most frequent
    first, how many of its articles were read, and the hosts the sentences were seen on, which
    the rule names (so a rule learned from two blogs of a shared platform covers those two)."""

    host: str
    articles: int
    sentences: tuple[LearnedSentence, ...]
    hosts: tuple[str, ...] = ()


@dataclass
class Learned:
    """A learning run: the rules, what they came from (the articles of a host, and those whose
    host was unknown: no URL, or none a rule could name), and the inputs that could not be read."""

    rules: list[HostRule]
    sources: tuple[str, ...]
    options: LearnOptions
    articles: int = 0
    without_host: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def sentences(self) -> int:
        return sum(len(rule.sentences) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class _Sample:
    """What learning keeps of one article: who it is (URL and content), its host, the texts it
    could teach (normalised key and wording, each once) and the texts it forbids learning."""

    identity: str
    content_digest: str
    host: str
    exact_host: str
    candidates: tuple[tuple[str, str], ...]
    protected: tuple[str, ...]


@dataclass
class _Tally:
    """One site's counts: its articles, each candidate text's [count, wording, example, hosts seen on],
    and the protected texts."""

    articles: int = 0
    texts: dict[str, list] = field(default_factory=dict)
    protected: set[str] = field(default_factory=set)


def learn(
    paths: Iterable[Path],
    rules: RuleSet,
    options: LearnOptions,
    on_input: Callable[[str, str | None], None] | None = None,
    output: tuple[int, int] | None = None,
) -> Learned:
    """Learn each host's recurring boilerplate from the inputs under `paths`.

    Inputs are found as `convert` finds them (hidden files skipped, --glob)
    and each is read and cleaned in a child process, held to `options.timeout`,
    so a hostile input or a backtracking rule costs that input only. A bad
    input is recorded in `failures` and the rest goes on. `on_input` hears of
    each input as it is done: its name, and its problem or None. `output`, the (device, inode)
    the rules go to (stdout redirected into an input folder), is never read as an input.
    """
    paths = list(paths)
    learned = Learned(rules=[], sources=tuple(display_path(os.fspath(path)) for path in paths), options=options)
    tallies: dict[str, _Tally] = {}
    seen_articles: set[str] = set()
    samples_of = partial(_samples_of, rules=rules, options=options)
    for name, samples, problem in each_input(paths, options.globs, options.timeout, samples_of, output):
        if problem is not None:
            learned.failures.append((name, problem))
        else:
            learned.without_host += _count(samples, name, tallies, seen_articles)
        if on_input is not None:
            on_input(name, problem)
    learned.articles = sum(tally.articles for tally in tallies.values())
    learned.rules = [rule for host in sorted(tallies) if (rule := _host_rule(host, tallies[host], options)).sentences]
    return learned


def target_problem(target: Path, paths: Iterable[Path], rule_files: Iterable[Path]) -> str | None:
    """Why -o must not write the learned rules to `target` (a real path), or None: never onto an
    input or into an input folder (the next run would read it as a dump), never onto a rules file
    learning reads (its sentences, already removed, would not be learned again and would be lost),
    and only over an earlier learned file or an empty one."""
    for path in paths:
        if is_inside(target, path):
            where = "inside the input folder" if path.is_dir() else "the input"
            return f"is {where} {display_path(str(path))}; write the rules elsewhere"
    for rules_file in rule_files:
        if is_inside(target, rules_file):
            return (
                f"is the rules file {display_path(str(rules_file))}, which learn and convert read: write the learned"
                " rules elsewhere, review them, then append what you keep"
            )
    return replacement_problem(target, (HEADER_START.encode(),), "a file feedclean learn wrote", "-o")


def _count(samples: list[_Sample], example: str, tallies: dict[str, _Tally], seen_articles: set[str]) -> int:
    """Add one input's articles to their hosts' counts, each article once; return how many had no host."""
    without_host = 0
    for sample in samples:
        if not sample.host:
            without_host += 1
            continue
        keys = (sample.identity, f"{sample.host} {sample.content_digest}")
        if any(key in seen_articles for key in keys):
            continue
        seen_articles.update(keys)
        tally = tallies.setdefault(sample.host, _Tally())
        tally.articles += 1
        tally.protected.update(sample.protected)
        for key, text in sample.candidates:
            entry = tally.texts.get(key)
            if entry is None:
                tally.texts[key] = [1, text, example, {sample.exact_host}]
            else:
                entry[0] += 1
                entry[3].add(sample.exact_host)
    return without_host


def _host_rule(host: str, tally: _Tally, options: LearnOptions) -> HostRule:
    """The texts of one host that recur often enough, most frequent first, each with a verified pattern."""
    # At least min_share of the articles; the small allowance keeps 0.2 × 15 (3.0000000000000004) at 3.
    needed = max(options.min_articles, math.ceil(options.min_share * tally.articles - 1e-9))
    kept = []
    hosts: set[str] = set()
    for key, (count, text, example, seen_on) in tally.texts.items():
        if count < needed or key in tally.protected:
            continue
        pattern = sentence_pattern(text)
        if matches_exactly(pattern, text):
            kept.append(LearnedSentence(text, pattern, count, example))
            hosts |= seen_on
    kept.sort(key=lambda sentence: (-sentence.articles, sentence.text))
    return HostRule(host, tally.articles, tuple(kept), tuple(sorted(hosts)))


def _samples_of(path: str, name: str, rules: RuleSet, options: LearnOptions) -> list[_Sample]:
    """Read and clean one input (in the child process), and keep what learning needs of each article."""
    from .pipeline import process_all

    articles = process_all(read_input(path, options.max_bytes), name, rules=rules, max_bytes=options.max_bytes)
    return [_sample(article, options.max_chars) for article in articles]


def _sample(article: Article, max_chars: int) -> _Sample:
    """The texts one cleaned article could teach, and those it forbids learning (see the module's docstring)."""
    whole = text_of(article.tree)
    candidates: dict[str, str] = {}
    protected: dict[str, None] = {}  # a dict, not a set: its order decides which are kept (_ends)
    lead_seen = False
    for block in leaf_blocks(article.tree):
        text = text_of(block)
        if not text:
            continue
        prose = is_prose(block, text, article.tree)
        is_lead = prose and not lead_seen
        lead_seen = lead_seen or prose
        if len(text) > max_chars:
            continue
        key = text.casefold()
        if is_lead or not prose or text == whole:
            protected[key] = None
        elif could_be_boilerplate(text):
            candidates.setdefault(key, text)
    digest = hashlib.blake2b(whole.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest() if whole else article.id
    host = _rule_host(article.canonical_url)
    site = site_of(host) if host else ""
    return _Sample(article.id, digest, site, host, _ends(tuple(candidates.items())), _ends(tuple(protected)))


def _rule_host(url: str | None) -> str:
    """The host a learned rule names for an article's URL, written as rules write hosts (no
    "www."); "" when there is none, or when it is a single label ("com", "localhost"), which
    as a rule's host would cover a whole top-level domain. Articles are counted by the host's
    registered domain (news.example.com and tech.example.com are one publisher's)."""
    host = normalize_host(host_of(url or "")) or ""
    return host if "." in host else ""


def _ends(items: tuple, limit: int = _MOST_TEXTS_PER_ARTICLE) -> tuple:
    """At most `limit` of an article's texts, half from its start and half from its end, where
    boilerplate sits: a 20 MB page of a million one-line paragraphs would otherwise hold
    millions of texts in the run's memory, where a real article has a few dozen."""
    return items if len(items) <= limit else items[: limit // 2] + items[-(limit // 2) :]


def sentence_pattern(text: str) -> str:
    """A regular expression matching exactly `text` as strip_text rules match (the whole text,
    case-insensitively), written to be read: only regular-expression characters are escaped
    (re.escape escapes spaces and every non-ASCII letter), and invisible characters (a bidi
    override, a zero-width space) are written as escapes, so the reviewer sees what is matched.
    A character that case-folds to something its IGNORECASE match misses (ß, folded to ss)
    gets both forms."""
    pieces = []
    for char in text:
        written = _literal(char)
        folded = char.casefold()
        if folded != char and not re.fullmatch(written, folded, re.IGNORECASE):
            written = f"(?:{written}|{''.join(map(_literal, folded))})"
        pieces.append(written)
    return "".join(pieces)


def _literal(char: str) -> str:
    """One character in a pattern: escaped if regular expressions give it a meaning, as a code if invisible."""
    if char in _REGEX_SPECIAL:
        return "\\" + char
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def matches_exactly(pattern: str, text: str) -> bool:
    """Whether `pattern`, as a strip_text rule, matches the whole of `text` and of its case-folded
    form: tried through the rules' own matcher, so what is written is what convert will do."""
    matcher = TextRules([(pattern, "")])
    try:
        return all(matcher.match(form) is not None for form in (text, text.casefold()))
    except re.error:  # the matcher compiles its pattern when first asked
        return False


def toml_string(value: str) -> str:
    """`value` as a TOML string that reads back as it is, written to be read: a literal string
    ('…', backslashes as written) when it holds no single quote, else a multi-line literal one
    ('''…''') when it can (no three quotes in a row, no quote at the end), else a basic string
    with its backslashes and double quotes escaped. `value` holds no control character."""
    if "'" not in value:
        return f"'{value}'"
    if _TOML_UNSAFE_IN_LITERAL not in value and not value.endswith("'"):
        return f"'''{value}'''"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    """Text for a TOML comment: one printable line, whatever a file name holds (a newline there
    would end the comment and write a rule; a bidi override would hide what is written)."""
    return "".join(char if char.isprintable() else _literal(char) for char in text)


def rules_text(learned: Learned) -> str:
    """The learned rules as a rules file for `--rules`: a header that says where they came from
    and what to do with them, then one [[rule]] per host, sorted, each sentence under a comment
    naming how many articles carried it and one input that did. Byte-identical for the same inputs."""
    options = learned.options
    sources = ", ".join(_comment(source) for source in learned.sources)
    lines = [
        f"{HEADER_START} {__version__} from: {sources}",
        f"# {learned.articles} articles read (each once, however many dumps hold it), cleaned by the rules in force.",
        f"# Kept: a block's text of at most {options.max_chars} characters found in at least {options.min_articles} articles",
        f"# of a site and in at least {options.min_share * 100:g}% of that site's articles; never a heading, a lead,",
        "# a caption, a table cell or the whole of an article.",
        "#",
        "# Review before use: each strip_text removes, from the articles of the hosts its rule names,",
        "# every block whose whole text it matches, case-insensitively. Delete the patterns you",
        "# disagree with (and their comments), then pass this file to convert with --rules FILE, or",
        "# append it to your rules file (~/.config/feedclean/rules.toml), so that later runs of learn",
        "# propose only what is new. Nothing changes until you do: learning only writes this file.",
    ]
    if not learned.rules:
        lines += ["", "# Nothing recurred often enough to be learned."]
    for rule in learned.rules:
        lines += ["", "[[rule]]", f"hosts = [{', '.join(map(toml_string, rule.hosts))}]", "strip_text = ["]
        for sentence in rule.sentences:
            lines.append(f"    # {sentence.articles} of {rule.articles} articles, e.g. {_comment(sentence.example)}")
            lines.append(f"    {toml_string(sentence.pattern)},")
        lines.append("]")
    return "\n".join(lines) + "\n"
