"""One host's rules, compiled: the rules in force that apply to it, merged into the tables,
patterns and selectors the cleaner consults for each of its articles.

Kept apart from rules.py, which `feedclean convert` imports on every start, because only a
run that converts something needs what this compiles (lxml's XPath, cssselect, the pattern
and URL tables): an unchanged re-run, `feedclean feed` and --help never load it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cssselect import HTMLTranslator
from cssselect import parse as parse_css
from cssselect.parser import Class, Element
from lxml import etree

from .dates import DateFormat
from .rules import label_key, normalize_label
from .rulesfile import LIST_KEYS, REWRITE_FIELDS, SCALAR_KEYS, TABLE_LIST_KEYS, Rule
from .textrules import CaptionText, TextRules
from .urls import PatternTable, QueryFilter, Wrappers

_CSS = HTMLTranslator()


@dataclass(slots=True)
class Rewrite:
    pattern: re.Pattern[str]
    replace: str
    origin: str


class SiteRules:
    """The rules in force for one host, merged and compiled for the cleaner."""

    def __init__(self, rules: list[Rule]) -> None:
        """`rules` in priority order: the first rule's scalars win, its list entries come first."""
        merged: dict[str, list[tuple[Any, str]]] = {key: [] for key in (*LIST_KEYS, *TABLE_LIST_KEYS)}
        scalars: dict[str, Any] = {}
        self._origins: dict[tuple[str, str], str] = {}
        for rule in rules:
            for key, value in rule.values.items():
                if key in SCALAR_KEYS:
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
        self.opaque_redirects = _pattern_table(merged["opaque_redirects"])
        self.tracker_file_words = frozenset(item.lower() for item, _ in merged["tracker_file_words"])
        # One search finds the few image names worth splitting into words.
        self.tracker_file_pattern = re.compile("|".join(map(re.escape, sorted(self.tracker_file_words))) or "(?!)")
        self.share_icons = frozenset(item.lower() for item, _ in merged["share_icons"])
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
