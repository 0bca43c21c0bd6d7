"""Rule tables: the site knowledge, loaded from TOML and compiled once.

The built-in knowledge ships as ``rules/builtin.toml`` in the same format users
write, so the cleaner has no publisher names in its code. A `RuleSet` is the
ordered list of rules in force; `RuleSet.for_host` merges the ones that apply
to an article's host into a compiled `SiteRules`, cached per host.
"""

from __future__ import annotations

import re
import stat
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cssselect import HTMLTranslator, SelectorError
from cssselect import parse as parse_css
from cssselect.parser import Class, Element
from lxml import etree

from .dates import DateFormat, date_format_problem
from .textrules import TEXT_FLAGS, CaptionText, TextRules
from .urls import PatternTable, QueryFilter, Wrappers

BUILTIN_ORIGIN = "built-in"

_LIST_KEYS = (
    "strip",
    "strip_text",
    "share_links",
    "share_labels",
    "feed_links",
    "footer_links",
    "related_labels",
    "readmore_labels",
    "tag_paths",
    "profile_hosts",
    "trackers",
    "widget_markers",
    "rights",
    "captions",
    "caption_text",
    "tracking_params",
    "date_format",
)
# What a rewrite_links replacement may name besides its groups (see docs/rules.md).
REWRITE_FIELDS = ("article_path_1", "article_lang")
_TABLE_LIST_KEYS = {"unwrap": ("host", "param"), "rewrite_links": ("pattern", "replace"), "embeds": ("pattern", "replace")}
# Fields an entry of a table list may have besides the required ones.
_OPTIONAL_FIELDS = {"unwrap": ("path",), "rewrite_links": (), "embeds": ()}
_SCALAR_KEYS = ("name", "timezone")
KNOWN_KEYS = frozenset(("hosts", *_LIST_KEYS, *_TABLE_LIST_KEYS, *_SCALAR_KEYS))
_REGEX_KEYS = ("strip_text", "rights", "caption_text")
_SELECTOR_KEYS = ("strip", "captions")

_CSS = HTMLTranslator()
_RULE_HEADER = re.compile(r"\s*\[\[\s*rule\s*\]\]")
_HOST_NAME = re.compile(r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*")
# An element for trying selectors on: some only fail when evaluated (an undeclared namespace prefix).
_PROBE = etree.Element("p")
# A rules file larger than this is a mistake (a log, a device), not rules.
MAX_RULES_BYTES = 1024 * 1024
# Hosts whose merged rules are looked up without ranking the rules again.
_HOSTS_REMEMBERED = 4096


class RulesError(Exception):
    """A rules file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One [[rule]] table as written, with where it came from."""

    origin: str
    hosts: tuple[str, ...]
    values: dict[str, Any] = field(hash=False)

    def applies_to(self, host: str) -> int:
        """How specifically this rule names `host`: 0 for not at all, 1 for "*"."""
        best = 0
        for pattern in self.hosts:
            if pattern == "*":
                best = max(best, 1)
            elif host == pattern or host.endswith("." + pattern):
                best = max(best, 2 + pattern.count("."))
        return best


@dataclass(slots=True)
class Rewrite:
    pattern: re.Pattern[str]
    replace: str
    origin: str


class SiteRules:
    """The rules in force for one host, merged and compiled for the cleaner."""

    def __init__(self, rules: list[Rule]) -> None:
        """`rules` in priority order: the first rule's scalars win, its list entries come first."""
        merged: dict[str, list[tuple[Any, str]]] = {key: [] for key in (*_LIST_KEYS, *_TABLE_LIST_KEYS)}
        scalars: dict[str, Any] = {}
        self._origins: dict[tuple[str, str], str] = {}
        for rule in rules:
            for key, value in rule.values.items():
                if key in _SCALAR_KEYS:
                    if key not in scalars:
                        scalars[key] = value
                        self._origins[(key, value)] = rule.origin
                else:
                    merged[key].extend((item, rule.origin) for item in value)
        self.name: str | None = scalars.get("name")
        self.timezone: ZoneInfo | None = ZoneInfo(scalars["timezone"]) if "timezone" in scalars else None
        self.date_formats = tuple(DateFormat(item, origin) for item, origin in merged["date_format"])
        self.wrappers = Wrappers([(item["host"], item.get("path", ""), item["param"]) for item, _ in merged["unwrap"]])
        self.rewrites = [
            Rewrite(re.compile(item["pattern"]), _to_template(item["replace"]), origin)
            for item, origin in merged["rewrite_links"]
        ]
        self.embeds = [(re.compile(item["pattern"]), item["replace"], origin) for item, origin in merged["embeds"]]
        # Share endpoints and feed services' links, looked up together: one probe per link.
        self.junk_links = _pattern_table(merged["share_links"] + merged["feed_links"])
        self.junk_link_keys = {item: key for key in ("feed_links", "share_links") for item, _ in merged[key]}
        self.related_labels = frozenset(label_key(item) for item, _ in merged["related_labels"])
        self.readmore_labels = frozenset(label_key(item) for item, _ in merged["readmore_labels"])
        self.tag_paths = tuple(item.lower() for item, _ in merged["tag_paths"])
        self.profile_hosts = frozenset(item.lower().removeprefix("www.") for item, _ in merged["profile_hosts"])
        self.trackers = _pattern_table(merged["trackers"])
        self.footer_hosts = frozenset(item.lower().removeprefix("www.") for item, _ in merged["footer_links"])
        self.share_labels = frozenset(normalize_label(item) for item, _ in merged["share_labels"])
        self.strip = SelectorSet([item for item, _ in merged["strip"]])
        self.captions = SelectorSet([item for item, _ in merged["captions"]])
        self.caption_text = CaptionText([item for item, _ in merged["caption_text"]])
        self.strip_text = TextRules(merged["strip_text"])
        self.rights = TextRules(merged["rights"])
        self.widget_markers = frozenset(item.lower() for item, _ in merged["widget_markers"])
        self.tracking = QueryFilter([item for item, _ in merged["tracking_params"]])
        for key, items in merged.items():
            for item, origin in items:
                self._origins.setdefault((key, _item_name(key, item)), origin)

    def describe(self, key: str, item: str) -> str:
        """How `feedclean explain` names a rule: its key, the item, and where it came from."""
        origin = self._origins.get((key, item))
        return f"{key} '{item}' ({origin})" if origin else f"{key} '{item}'"


def _item_name(key: str, item: Any) -> str:
    """The string that identifies one entry of a rule list (a table entry by its host or pattern)."""
    if key == "unwrap":
        return item["host"]
    if key in ("rewrite_links", "embeds"):
        return item["pattern"]
    return item


def normalize_label(text: str) -> str:
    """Label text as compared: case-folded, without the colons and dots around it."""
    return text.strip(" \t\n:：.。-–—|·»>").casefold()


_NOT_WORDS = re.compile(r"[\W_]+")


def label_key(text: str) -> str:
    """A label's words alone, case-folded: "Continue reading…", "(more…)" and "相关文章：" as
    "continue reading", "more" and "相关文章"."""
    return _NOT_WORDS.sub(" ", text).strip().casefold()


# A label that ends in one of these words names something after it ("More from The Verge").
_OPEN_ENDED = ("from", "on", "in", "at", "by", "of", "about", "von", "de", "du", "sur", "zu", "zum", "zur", "em", "en")


def is_named_label(key: str, labels: frozenset[str]) -> bool:
    """Whether a label_key is one of `labels`, or starts with one that ends in a preposition
    ("more from the verge"), or (in scripts without spaces) ends with one ("中国数字时代相关专题").
    "Related work" and "Recommended settings" are headings, not labels."""
    if key in labels:
        return True
    for label in labels:
        if label.endswith(_OPEN_ENDED) and key.startswith(label + " "):
            return True
        if not label[-1].isascii() and key.endswith(label):
            return True
    return False


def _pattern_table(items: list[tuple[str, str]]) -> PatternTable:
    return PatternTable([pattern for pattern, _ in items])


class SelectorSet:
    """CSS selectors, matched cheaply: plain tag and class selectors by set look-up
    during the cleaner's one pass over the tree, anything else by one XPath per document."""

    __slots__ = ("_complex", "_sources", "classes", "tags", "xpath")

    def __init__(self, selectors: list[str]) -> None:
        self._sources: dict[str, str] = {}
        self._complex: list[tuple[etree.XPath, str]] = []
        tags: set[str] = set()
        classes: set[str] = set()
        for css in selectors:
            for selector in parse_css(css):
                parsed = selector.parsed_tree
                if selector.pseudo_element is None and isinstance(parsed, Element) and parsed.element and not parsed.namespace:
                    tags.add(parsed.element.lower())
                    self._sources.setdefault(parsed.element.lower(), css)
                elif (
                    selector.pseudo_element is None
                    and isinstance(parsed, Class)
                    and isinstance(parsed.selector, Element)
                    and parsed.selector.element is None
                ):
                    classes.add(parsed.class_name)
                    self._sources.setdefault("." + parsed.class_name, css)
                else:
                    self._complex.append((etree.XPath(_CSS.selector_to_xpath(selector)), css))
        self.tags = frozenset(tags)
        self.classes = frozenset(classes)
        paths = [path.path for path, _ in self._complex]
        self.xpath = etree.XPath(" | ".join(paths)) if paths else None

    def complex_elements(self, root: etree._Element) -> list[etree._Element]:
        """The elements under `root` that the selectors needing XPath match, in document order."""
        return self.xpath(root) if self.xpath is not None else []

    def complex_matches(self, root: etree._Element) -> set[etree._Element]:
        """The same as a set, for `matches`."""
        return set(self.complex_elements(root))

    def matches(self, element: etree._Element, complex_matches: set[etree._Element]) -> bool:
        return element.tag in self.tags or self.matches_class(element) or element in complex_matches

    def matches_class(self, element: etree._Element) -> bool:
        """Whether a plain class selector matches `element`."""
        if self.classes:
            names = element.get("class")
            return bool(names) and not self.classes.isdisjoint(names.split())
        return False

    def which(self, element: etree._Element, root: etree._Element) -> str:
        """The selector, as written, that matches `element` (for `feedclean explain`)."""
        if element.tag in self._sources:
            return self._sources[element.tag]
        for name in (element.get("class") or "").split():
            if "." + name in self._sources:
                return self._sources["." + name]
        return next((css for path, css in self._complex if element in path(root)), "?")


def _to_template(replace: str) -> str:
    r"""Turn "\1" group references into str.format fields beside the named ones."""
    template = re.sub(r"\\(\d)", r"{g\1}", replace.replace("{", "{{").replace("}", "}}"))
    for name in REWRITE_FIELDS:
        template = template.replace(f"{{{{{name}}}}}", f"{{{name}}}")
    return template


class RuleSet:
    """The rules in force, in precedence order: built-in first, then user files."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._by_host: dict[str, SiteRules] = {}
        self._by_rules: dict[tuple[int, ...], SiteRules] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Compiled selectors do not pickle (a worker started by spawn gets the rules this way)."""
        return {"rules": self.rules}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["rules"])

    def for_host(self, host: str) -> SiteRules:
        """The merged rules for `host`.

        Priority: the rule naming the host most specifically first
        (news.example.com before example.com before "*"); at equal
        specificity the one read later (a user file before the built-in).
        Compiled once per set of matching rules, which most hosts share
        (only "*" matches them), so a folder from thousands of sites
        compiles a few; the host lookup is bounded.
        """
        site = self._by_host.get(host)
        if site is None:
            ranked = sorted(
                ((rank, index) for index, rule in enumerate(self.rules) if (rank := rule.applies_to(host))),
                reverse=True,
            )
            chosen = tuple(index for _, index in ranked)
            site = self._by_rules.get(chosen)
            if site is None:
                site = self._by_rules[chosen] = SiteRules([self.rules[index] for index in chosen])
            if len(self._by_host) >= _HOSTS_REMEMBERED:
                self._by_host.clear()
            self._by_host[host] = site
        return site

    def with_files(self, paths: list[Path]) -> RuleSet:
        """This rule set followed by the rules of each file, in order."""
        rules = list(self.rules)
        for path in paths:
            rules.extend(load_rules_file(path))
        return RuleSet(rules)

    @property
    def digest_source(self) -> str:
        """A text that changes whenever any rule in force changes (for incremental runs)."""
        return repr([(rule.hosts, sorted(rule.values.items())) for rule in self.rules])


def load_rules_file(path: Path) -> list[Rule]:
    """Read and check a user rules file; every problem raises `RulesError` naming the file.
    Only a regular file of reasonable size is read (--rules /dev/zero would never end)."""
    try:
        status = path.stat()
        if stat.S_ISDIR(status.st_mode):
            raise RulesError(f"{path}: is a folder, not a rules file")
        if not stat.S_ISREG(status.st_mode):
            raise RulesError(f"{path}: not a regular file (a FIFO, device or socket)")
        if status.st_size > MAX_RULES_BYTES:
            raise RulesError(f"{path}: {status.st_size:,} bytes; a rules file holds at most {MAX_RULES_BYTES:,}")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise RulesError(f"{path}: cannot read rules file: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise RulesError(f"{path}: rules file is not UTF-8 text") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, origin: str, check_values: bool = True) -> list[Rule]:
    """Parse and validate rules TOML; `origin` names the source in errors and listings.

    `check_values` off skips compiling every pattern and selector to try it
    (the built-in rules, checked by the tests, load faster at each start).
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"{origin}: invalid TOML: {error}") from None
    source = _Source(text)
    unknown = set(document) - {"rule"}
    if unknown:
        key = sorted(unknown)[0]
        where = _at_line(source.top_level_line(key))
        raise RulesError(f"{origin}{where}: unknown top-level key {key!r}; rules go in [[rule]] tables")
    tables = document.get("rule", [])
    if not isinstance(tables, list):
        raise RulesError(f"{origin}{_at_line(source.top_level_line('rule'))}: 'rule' must be a list of tables, written [[rule]]")
    return [_check_rule(table, index, source, origin, check_values) for index, table in enumerate(tables, 1)]


class _Source:
    """The text of a rules file, to point at the line a problem is on: within the offending
    rule's own lines, at `key =`, or at the value when it is written out as it was read."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        headers = [number for number, line in enumerate(self.lines) if _RULE_HEADER.match(line)]
        self.spans = list(zip(headers, [*headers[1:], len(self.lines)][: len(headers)], strict=True))

    def top_level_line(self, key: str) -> int | None:
        pattern = re.compile(rf"\s*(\[+\s*{re.escape(key)}\s*[.\]]|{re.escape(key)}\s*[.=])")
        return next((number + 1 for number, line in enumerate(self.lines) if pattern.match(line)), None)

    def rule_line(self, index: int, key: str = "", value: str = "") -> int | None:
        """The line of rule `index`'s `key` (or of `value` under it), or its [[rule]] header."""
        if len(self.spans) < index:
            return None
        start, end = self.spans[index - 1]
        if not key:
            return start + 1
        key_pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
        key_line = next((number for number in range(start, end) if key_pattern.match(self.lines[number])), None)
        if key_line is None:
            return None
        if value:
            quoted = (f"'{value}'", f'"{value}"', f"'''{value}'''")
            for number in range(key_line, end):
                if any(form in self.lines[number] for form in quoted):
                    return number + 1
        return key_line + 1


def _at_line(number: int | None) -> str:
    return f", line {number}" if number else ""


def _check_rule(table: Any, index: int, source: _Source, origin: str, check_values: bool) -> Rule:
    where = f"{origin}, rule {index}"
    if not isinstance(table, dict):
        raise RulesError(f"{where}: each rule must be a table")

    def fail(problem: str, key: str = "", value: str = "") -> RulesError:
        return RulesError(f"{where}{_at_line(source.rule_line(index, key, value))}: {problem}")

    for key in table:
        if key not in KNOWN_KEYS:
            raise fail(f"unknown key {key!r} (known: {', '.join(sorted(KNOWN_KEYS))})", key)
    hosts = table.get("hosts")
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h.strip() for h in hosts):
        problem = "'hosts' must be a non-empty list of domain names, or [\"*\"] for every article"
        raise fail(problem, "hosts" if "hosts" in table else "")
    normalized = []
    for host in hosts:
        name = host.strip() if host.strip() == "*" else normalize_host(host)
        if name is None:
            raise fail(f"{host!r} in 'hosts' is not a domain name (write news.example.com, or \"*\")", "hosts", host)
        normalized.append(name)
    values: dict[str, Any] = {}
    for key in _SCALAR_KEYS:
        if key in table:
            if not isinstance(table[key], str):
                raise fail(f"{key!r} must be a string", key)
            values[key] = table[key]
    if "timezone" in values:
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise fail(f"unknown time zone {values['timezone']!r} (use an IANA name like 'Europe/Paris')", "timezone") from None
    for key in _LIST_KEYS:
        if key in table:
            items = table[key]
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise fail(f"{key!r} must be a list of strings", key)
            for item in items:
                problem = _item_problem(key, item) if check_values else None
                if problem:
                    raise fail(problem, key, item)
            values[key] = tuple(items)
    for key, fields in _TABLE_LIST_KEYS.items():
        if key in table:
            values[key] = tuple(_check_table_item(key, item, fields, fail) for item in _as_list(table[key], key, fail))
    return Rule(origin=where, hosts=tuple(normalized), values=values)


def normalize_host(text: str) -> str | None:
    """The domain a rule names, as articles' hosts are compared: lower case, without a
    scheme, path, port, trailing dot, or leading "www." or "*."; None if it is no domain name."""
    host = text.strip().lower().partition("://")[2] or text.strip().lower()
    host = host.partition("/")[0].partition(":")[0].rstrip(".")
    host = host.removeprefix("*.").removeprefix("www.")
    return host if _HOST_NAME.fullmatch(host) else None


def _as_list(value: Any, key: str, fail: Any) -> list[Any]:
    if not isinstance(value, list):
        raise fail(f"{key!r} must be a list of tables", key)
    return value


def _item_problem(key: str, item: str) -> str | None:
    """What is wrong with one entry of a list key, or None."""
    if key in _REGEX_KEYS:
        try:
            re.compile(item, TEXT_FLAGS)
        except re.error as error:
            return f"invalid regular expression in {key!r}: {item!r}: {error}"
    elif key in _SELECTOR_KEYS:
        try:
            etree.XPath(_CSS.css_to_xpath(item))(_PROBE)
        except (SelectorError, etree.XPathError) as error:
            return f"invalid CSS selector in {key!r}: {item!r}: {error} (namespaces and pseudo-elements are not supported)"
    elif key == "date_format":
        problem = date_format_problem(item)
        if problem:
            return f"invalid date format in 'date_format': {item!r}: {problem}"
    return None


def _check_table_item(key: str, item: Any, fields: tuple[str, str], fail: Any) -> dict[str, str]:
    allowed = {*fields, *_OPTIONAL_FIELDS[key]}
    well_formed = isinstance(item, dict) and set(fields) <= set(item) <= allowed
    if not well_formed or not all(isinstance(value, str) for value in item.values()) or not item[fields[0]]:
        optional = "".join(f" (and optionally {name})" for name in _OPTIONAL_FIELDS[key])
        raise fail(f"each entry of {key!r} must be a table with {' and '.join(fields)}{optional} (strings)", key)
    if key == "unwrap":
        return _check_unwrap(item, fail)
    try:
        regex = re.compile(item["pattern"])
    except re.error as error:
        raise fail(f"invalid regular expression in {key!r}: {item['pattern']!r}: {error}", key, item["pattern"]) from None
    groups = {int(n) for n in re.findall(r"\\(\d)", item["replace"])}
    if groups and max(groups) > regex.groups:
        raise fail(f"{key!r} replacement {item['replace']!r} refers to a group the pattern lacks", key, item["replace"])
    return dict(item)


def _check_unwrap(item: dict[str, str], fail: Any) -> dict[str, str]:
    """A wrapper's host ("*" only with a path, so not every link with that parameter is taken
    for a wrapper), its optional path prefix, and the parameter holding the real URL."""
    path = item.get("path", "")
    host = "*" if item["host"].strip() == "*" else normalize_host(item["host"])
    if host is None or not item["param"]:
        raise fail(f"'unwrap' needs a host name and a query parameter, not {item['host']!r} and {item['param']!r}", "unwrap")
    if path and not path.startswith("/"):
        raise fail(f"'unwrap' path {path!r} must start with /", "unwrap")
    if host == "*" and not path:
        raise fail('\'unwrap\' with host "*" needs a path (such as "/tools/r.html")', "unwrap")
    checked = {"host": host, "param": item["param"]}
    if path:
        checked["path"] = path
    return checked


def _load_builtin() -> RuleSet:
    text = resources.files(__package__).joinpath("rules/builtin.toml").read_text(encoding="utf-8")
    return RuleSet(parse_rules(text, BUILTIN_ORIGIN, check_values=False))


BUILTIN = _load_builtin()
