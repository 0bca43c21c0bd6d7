"""Rule tables: the site knowledge, loaded from TOML and compiled once.

The built-in knowledge ships as ``rules/builtin.toml`` in the same format users
write, so the cleaner has no publisher names in its code. A `RuleSet` is the
ordered list of rules in force; `RuleSet.for_host` merges the ones that apply
to an article's host into a compiled `SiteRules`, cached per host.
"""

from __future__ import annotations

import re
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

from .dates import DateFormat
from .urls import PatternTable

BUILTIN_ORIGIN = "built-in"

_LIST_KEYS = (
    "strip",
    "strip_text",
    "share_links",
    "share_labels",
    "footer_links",
    "trackers",
    "widget_markers",
    "rights",
    "captions",
    "tracking_params",
    "date_format",
)
_TABLE_LIST_KEYS = {"unwrap": ("host", "param"), "rewrite_links": ("pattern", "replace")}
_SCALAR_KEYS = ("name", "timezone")
KNOWN_KEYS = frozenset(("hosts", *_LIST_KEYS, *_TABLE_LIST_KEYS, *_SCALAR_KEYS))
_REGEX_KEYS = ("strip_text", "rights")
_SELECTOR_KEYS = ("strip", "captions")

_CSS = HTMLTranslator()


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
        merged: dict[str, list[tuple[Any, str]]] = {key: [] for key in (*_LIST_KEYS, *_TABLE_LIST_KEYS)}
        scalars: dict[str, Any] = {}
        self._origins: dict[tuple[str, str], str] = {}
        for rule in rules:
            for key, value in rule.values.items():
                if key in _SCALAR_KEYS:
                    scalars[key] = value
                    self._origins[(key, value)] = rule.origin
                else:
                    merged[key].extend((item, rule.origin) for item in value)
        self.name: str | None = scalars.get("name")
        self.timezone: ZoneInfo | None = ZoneInfo(scalars["timezone"]) if "timezone" in scalars else None
        self.date_formats = tuple(DateFormat(item) for item, _ in merged["date_format"])
        self.proxies: dict[str, str] = {item["host"].removeprefix("www."): item["param"] for item, _ in merged["unwrap"]}
        self.rewrites = [
            Rewrite(re.compile(item["pattern"]), _to_template(item["replace"]), origin)
            for item, origin in merged["rewrite_links"]
        ]
        self.share_links = _pattern_table(merged["share_links"])
        self.trackers = _pattern_table(merged["trackers"])
        self.footer_hosts = frozenset(item.lower().removeprefix("www.") for item, _ in merged["footer_links"])
        self.share_labels = frozenset(normalize_label(item) for item, _ in merged["share_labels"])
        self.strip = SelectorSet([item for item, _ in merged["strip"]])
        self.captions = SelectorSet([item for item, _ in merged["captions"]])
        self.strip_text = _TextRules(merged["strip_text"])
        self.rights = _TextRules(merged["rights"])
        self.widget_markers = frozenset(item.lower() for item, _ in merged["widget_markers"])
        names = [item for item, _ in merged["tracking_params"]]
        self.tracking_params = frozenset(n for n in names if not n.endswith("*"))
        self.tracking_prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
        for key, items in merged.items():
            for item, origin in items:
                self._origins.setdefault((key, _item_name(key, item)), origin)

    def describe(self, key: str, item: str) -> str:
        """How `feedclean explain` names a rule: its key, the item, and where it came from."""
        origin = self._origins.get((key, item))
        return f"{key} {item!r} ({origin})" if origin else f"{key} {item!r}"


def _item_name(key: str, item: Any) -> str:
    """The string that identifies one entry of a rule list (a table entry by its host or pattern)."""
    if key == "unwrap":
        return item["host"].removeprefix("www.")
    if key == "rewrite_links":
        return item["pattern"]
    return item


class _TextRules:
    """Regular expressions matched against a block's whole text, case-insensitively."""

    __slots__ = ("_combined", "_each")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._each = [(re.compile(pattern, re.IGNORECASE | re.DOTALL), pattern, origin) for pattern, origin in items]
        combined = "|".join(f"(?:{pattern})" for pattern, _ in items)
        self._combined = re.compile(combined, re.IGNORECASE | re.DOTALL) if items else None

    def match(self, text: str) -> tuple[str, str] | None:
        """The (pattern, origin) of the first rule matching all of `text`, or None."""
        if self._combined is None or self._combined.fullmatch(text) is None:
            return None
        for regex, pattern, origin in self._each:
            if regex.fullmatch(text):
                return pattern, origin
        return None


def normalize_label(text: str) -> str:
    """Label text as compared: case-folded, without the colons and dots around it."""
    return text.strip(" \t\n:：.。-–—|·»>").casefold()


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

    def complex_matches(self, root: etree._Element) -> set[etree._Element]:
        """The elements under `root` that the selectors needing XPath match."""
        return set(self.xpath(root)) if self.xpath is not None else set()

    def matches(self, element: etree._Element, complex_matches: set[etree._Element]) -> bool:
        if element.tag in self.tags:
            return True
        if self.classes:
            names = element.get("class")
            if names and not self.classes.isdisjoint(names.split()):
                return True
        return element in complex_matches

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
    return re.sub(r"\\(\d)", r"{\1}", replace.replace("{", "{{").replace("}", "}}")).replace(
        "{{article_path_1}}", "{article_path_1}"
    )


class RuleSet:
    """The rules in force, in precedence order: built-in first, then user files."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._by_host: dict[str, SiteRules] = {}

    def for_host(self, host: str) -> SiteRules:
        """The merged rules for `host` (compiled once per host and kept)."""
        site = self._by_host.get(host)
        if site is None:
            ranked = sorted(
                ((rule.applies_to(host), index, rule) for index, rule in enumerate(self.rules)),
                key=lambda item: (item[0], item[1]),
            )
            site = SiteRules([rule for rank, _, rule in ranked if rank])
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
        return repr([(rule.origin, rule.hosts, sorted(rule.values.items())) for rule in self.rules])


def load_rules_file(path: Path) -> list[Rule]:
    """Read and check a user rules file; every problem raises `RulesError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError(f"{path}: cannot read rules file: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise RulesError(f"{path}: rules file is not UTF-8 text") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, origin: str) -> list[Rule]:
    """Parse and validate rules TOML; `origin` names the source in errors and listings."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"{origin}: invalid TOML: {error}") from None
    unknown = set(document) - {"rule"}
    if unknown:
        key = sorted(unknown)[0]
        raise RulesError(f"{origin}{_line_hint(text, key)}: unknown top-level key {key!r}; rules go in [[rule]] tables")
    tables = document.get("rule", [])
    if not isinstance(tables, list):
        raise RulesError(f"{origin}: 'rule' must be a list of tables, written [[rule]]")
    return [_check_rule(table, index, text, origin) for index, table in enumerate(tables, 1)]


def _check_rule(table: Any, index: int, text: str, origin: str) -> Rule:
    where = f"{origin}, rule {index}"
    if not isinstance(table, dict):
        raise RulesError(f"{where}: each rule must be a table")

    def fail(problem: str, needle: str = "") -> RulesError:
        return RulesError(f"{where}{_line_hint(text, needle)}: {problem}")

    for key in table:
        if key not in KNOWN_KEYS:
            raise fail(f"unknown key {key!r} (known: {', '.join(sorted(KNOWN_KEYS))})", key)
    hosts = table.get("hosts")
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h.strip() for h in hosts):
        raise fail("'hosts' must be a non-empty list of domain names, or [\"*\"] for every article", "hosts")
    values: dict[str, Any] = {}
    for key in _SCALAR_KEYS:
        if key in table:
            if not isinstance(table[key], str):
                raise fail(f"{key!r} must be a string", key)
            values[key] = table[key]
    if "timezone" in values:
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(
                f"unknown time zone {values['timezone']!r} (use an IANA name like 'Europe/Paris')", values["timezone"]
            ) from None
    for key in _LIST_KEYS:
        if key in table:
            items = table[key]
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise fail(f"{key!r} must be a list of strings", key)
            for item in items:
                _check_item(key, item, fail)
            values[key] = tuple(items)
    for key, fields in _TABLE_LIST_KEYS.items():
        if key in table:
            values[key] = tuple(_check_table_item(key, item, fields, fail) for item in _as_list(table[key], key, fail))
    return Rule(origin=where, hosts=tuple(h.strip().lower().removeprefix("www.") for h in hosts), values=values)


def _as_list(value: Any, key: str, fail: Any) -> list[Any]:
    if not isinstance(value, list):
        raise fail(f"{key!r} must be a list of tables", key)
    return value


def _check_item(key: str, item: str, fail: Any) -> None:
    if key in _REGEX_KEYS:
        try:
            re.compile(item)
        except re.error as error:
            raise fail(f"invalid regular expression in {key!r}: {item!r}: {error}", item) from None
    elif key in _SELECTOR_KEYS:
        try:
            etree.XPath(_CSS.css_to_xpath(item))
        except (SelectorError, etree.XPathError) as error:
            raise fail(f"invalid CSS selector in {key!r}: {item!r}: {error}", item) from None


def _check_table_item(key: str, item: Any, fields: tuple[str, str], fail: Any) -> dict[str, str]:
    if not isinstance(item, dict) or set(item) != set(fields) or not all(isinstance(v, str) and v for v in item.values()):
        raise fail(f"each entry of {key!r} must be a table with exactly {' and '.join(fields)} (strings)", key)
    if key == "rewrite_links":
        try:
            regex = re.compile(item["pattern"])
        except re.error as error:
            raise fail(f"invalid regular expression in 'rewrite_links': {item['pattern']!r}: {error}", item["pattern"]) from None
        groups = {int(n) for n in re.findall(r"\\(\d)", item["replace"])}
        if groups and max(groups) > regex.groups:
            raise fail(f"'rewrite_links' replacement {item['replace']!r} refers to a group the pattern lacks", item["replace"])
    return dict(item)


def _line_hint(text: str, needle: str) -> str:
    """ ", line N" for the first line holding `needle`, when it can be found."""
    if not needle:
        return ""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return f", line {number}"
    return ""


def _load_builtin() -> RuleSet:
    text = resources.files(__package__).joinpath("rules/builtin.toml").read_text(encoding="utf-8")
    return RuleSet(parse_rules(text, BUILTIN_ORIGIN))


BUILTIN = _load_builtin()
