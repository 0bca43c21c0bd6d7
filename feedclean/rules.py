"""Rule tables: the site knowledge, loaded from TOML and compiled once.

The built-in knowledge ships as ``rules/builtin.toml`` in the same format users
write, so the cleaner has no publisher names in its code. A `RuleSet` is the
ordered list of rules in force; `RuleSet.for_host` merges the ones that apply
to an article's host into a compiled `SiteRules` (siterules.py), cached per host.

Every command imports this module, and many runs never compile a site (--help,
`feedclean feed`, a re-run that finds nothing changed): so the built-in rules
are read when first needed (a run's fingerprint needs only their file's digest),
and `SiteRules`, with lxml, cssselect and the pattern tables it needs, lives in
siterules.py, which only the cleaning modules (a run that converts) import.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .rulesfile import Rule, load_rules_file, parse_rules

if TYPE_CHECKING:
    from .siterules import SiteRules

BUILTIN_ORIGIN = "built-in"
# The package's own file, read as a plain path: importlib.resources cost 8 ms of every start, and
# feedclean is installed as files (its code digest reads them too).
BUILTIN_PATH = Path(__file__).with_name("rules") / "builtin.toml"


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


class RuleSet:
    """The rules in force, in precedence order: the built-in ones first when `builtin`, then `rules`.

    A rule set does not change once made (its compiled sites are cached): `with_files` gives
    a new one, and `rules` is a tuple.
    """

    def __init__(self, rules: list[Rule] | tuple[Rule, ...], builtin: bool = False) -> None:
        self._builtin = builtin
        self._added = tuple(rules)
        self._rules = None if builtin else self._added
        self._by_host: dict[str, SiteRules] = {}
        self._by_rules: dict[tuple[int, ...], SiteRules] = {}

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule in force, in order; the built-in ones read from their file on first use."""
        return self._rules if self._rules is not None else self.load()

    def load(self) -> tuple[Rule, ...]:
        """Read the built-in rules now (a run about to fork its workers reads them once for all)."""
        if self._rules is None:
            self._rules = (*_builtin_rules(), *self._added)
        return self._rules

    def __getstate__(self) -> dict[str, Any]:
        """Compiled selectors do not pickle (a worker started by spawn gets the rules this way)."""
        return {"rules": self._added, "builtin": self._builtin}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["rules"], state["builtin"])

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
            from .siterules import SiteRules
            from .urls import HOSTS_REMEMBERED

            ranked = sorted(
                ((rank, index) for index, rule in enumerate(self.rules) if (rank := rule.applies_to(host))),
                reverse=True,
            )
            chosen = tuple(index for _, index in ranked)
            site = self._by_rules.get(chosen)
            if site is None:
                site = self._by_rules[chosen] = SiteRules([self.rules[index] for index in chosen])
            if len(self._by_host) >= HOSTS_REMEMBERED:
                self._by_host.clear()
            self._by_host[host] = site
        return site

    def with_files(self, paths: list[Path]) -> RuleSet:
        """This rule set followed by the rules of each file, in order."""
        rules = list(self._added)
        for path in paths:
            rules.extend(load_rules_file(path))
        return RuleSet(rules, self._builtin)

    @property
    def digest_source(self) -> str:
        """A text that changes whenever any rule in force changes (for incremental runs): the
        built-in rules by their file's digest, so a run that finds nothing to convert never
        parses them; the others as read, so a user's comments and layout count for nothing."""
        added = [(rule.hosts, sorted(rule.values.items())) for rule in self._added]
        return repr([_builtin_digest(), *added] if self._builtin else added)


@cache
def _builtin_rules() -> list[Rule]:
    return parse_rules(BUILTIN_PATH.read_text(encoding="utf-8"), BUILTIN_ORIGIN, check_values=False)


@cache
def _builtin_digest() -> str:
    return f"{BUILTIN_ORIGIN} {hashlib.sha256(BUILTIN_PATH.read_bytes()).hexdigest()}"


BUILTIN = RuleSet([], builtin=True)
