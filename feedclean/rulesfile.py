"""A rules file, read and checked: TOML in, `Rule` records out, or one `RulesError` that
names the file, the rule, the line and what to write instead. Kept apart from rules.py, which
merges and compiles the rules in force for each host, because users meet this half (their own
files' mistakes) and the cleaner meets only the other.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LIST_KEYS = (
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
    "opaque_redirects",
    "tracker_file_words",
    "share_icons",
    "date_format",
)
# What a rewrite_links replacement may name besides its groups (see docs/rules.md).
REWRITE_FIELDS = ("article_path_1", "article_lang")
TABLE_LIST_KEYS = {"unwrap": ("host", "param"), "rewrite_links": ("pattern", "replace"), "embeds": ("pattern", "replace")}
# Fields an entry of a table list may have besides the required ones.
_OPTIONAL_FIELDS = {"unwrap": ("path",), "rewrite_links": (), "embeds": ()}
SCALAR_KEYS = ("name", "timezone")
KNOWN_KEYS = frozenset(("hosts", *LIST_KEYS, *TABLE_LIST_KEYS, *SCALAR_KEYS))
_REGEX_KEYS = ("strip_text", "rights", "caption_text")
_SELECTOR_KEYS = ("strip", "captions")

_RULE_HEADER = re.compile(r"\s*\[\[\s*rule\s*\]\]")
_HOST_NAME = re.compile(r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*")
# A rules file larger than this is a mistake (a log, a device), not rules.
MAX_RULES_BYTES = 1024 * 1024


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

    `check_values` off skips compiling every pattern and selector and opening
    every time zone to try it (the built-in rules, checked by the tests, load
    faster at each start, without lxml, cssselect or zoneinfo).
    """
    import tomllib  # here, not above: --help and `feedclean feed` read no rules

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
    for key in SCALAR_KEYS:
        if key in table:
            if not isinstance(table[key], str):
                raise fail(f"{key!r} must be a string", key)
            values[key] = table[key]
    if "timezone" in values and check_values and not _is_time_zone(values["timezone"]):
        raise fail(f"unknown time zone {values['timezone']!r} (use an IANA name like 'Europe/Paris')", "timezone")
    for key in LIST_KEYS:
        if key in table:
            items = table[key]
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise fail(f"{key!r} must be a list of strings", key)
            for item in items:
                problem = _item_problem(key, item) if check_values else None
                if problem:
                    raise fail(problem, key, item)
            values[key] = tuple(items)
    for key, fields in TABLE_LIST_KEYS.items():
        if key in table:
            items = _as_list(table[key], key, fail)
            values[key] = tuple(_check_table_item(key, item, fields, fail, check_values) for item in items)
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


def _is_time_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _item_problem(key: str, item: str) -> str | None:
    """What is wrong with one entry of a list key, or None. What it takes to try one (the
    cleaner's regex flags, lxml and cssselect, the date formats) loads only for a user's file."""
    if key in _REGEX_KEYS:
        from .textrules import TEXT_FLAGS

        try:
            re.compile(item, TEXT_FLAGS)
        except re.error as error:
            return f"invalid regular expression in {key!r}: {item!r}: {error}"
    elif key in _SELECTOR_KEYS:
        return _selector_problem(key, item)
    elif key == "date_format":
        from .dates import date_format_problem

        problem = date_format_problem(item)
        if problem:
            return f"invalid date format in 'date_format': {item!r}: {problem}"
    return None


def _selector_problem(key: str, item: str) -> str | None:
    from cssselect import HTMLTranslator, SelectorError
    from lxml import etree

    try:  # evaluated too: some only fail then (an undeclared namespace prefix)
        etree.XPath(HTMLTranslator().css_to_xpath(item))(etree.Element("p"))
    except (SelectorError, etree.XPathError) as error:
        return f"invalid CSS selector in {key!r}: {item!r}: {error} (namespaces and pseudo-elements are not supported)"
    return None


def _check_table_item(key: str, item: Any, fields: tuple[str, str], fail: Any, check_values: bool) -> dict[str, str]:
    allowed = {*fields, *_OPTIONAL_FIELDS[key]}
    well_formed = isinstance(item, dict) and set(fields) <= set(item) <= allowed
    if not well_formed or not all(isinstance(value, str) for value in item.values()) or not item[fields[0]]:
        optional = "".join(f" (and optionally {name})" for name in _OPTIONAL_FIELDS[key])
        raise fail(f"each entry of {key!r} must be a table with {' and '.join(fields)}{optional} (strings)", key)
    if key == "unwrap":
        return _check_unwrap(item, fail)
    if not check_values:
        return dict(item)
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
