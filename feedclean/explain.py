"""`feedclean explain` and `feedclean rules`: what the cleaning did to a dump, and which rules are in force.

This is how a user debugs a publisher's new markup: each removed element
with the rule that removed it, each rewritten URL, and where each piece of
metadata came from. rich is imported here only, when these commands run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TextIO

from .article import Article
from .controls import strip_controls, strip_controls_within
from .limits import DEFAULT_MAX_BYTES
from .pipeline import process_all
from .rules import RuleSet

if TYPE_CHECKING:
    from rich.text import Text

# A list key with more entries than this shows only their number in the rules table (--json shows all).
_SHOWN_ENTRIES = 3
# Off a terminal, lines are as long as they need to be.
_UNLIMITED_WIDTH = 1_000_000
# The rules table piped: wide enough for a long selector on one line; a table pads every line.
_PIPED_TABLE_WIDTH = 160
# Metadata in the order the outputs list it.
_FIELD_ORDER = ["title", "url", "source", "published", "fetched", "language", "lead", "image", "rights"]


def explain(data: bytes, name: str, rules: RuleSet, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Run one input through the pipeline with tracing on; return what happened, as plain data.

    A feed file gives {"input", "items": [one report per item]}.
    """
    articles = process_all(data, name, rules=rules, trace=True, max_bytes=max_bytes)
    reports = [_report(article) for article in articles]
    if len(articles) == 1 and not articles[0].from_feed:
        return reports[0]
    return {"input": strip_controls(name), "items": reports}


def _report(article: Article) -> dict[str, Any]:
    """What happened to one article; the input's own words (excerpts, URLs, values) without their
    control characters, which would otherwise reach a terminal (`ESC ] 52` sets its clipboard)."""
    trace = article.trace
    report = {
        "input": article.name,
        "encoding": article.encoding,
        "removed": trace.removed,
        "rewritten": trace.rewritten,
        "metadata": sorted(trace.metadata, key=lambda item: _FIELD_ORDER.index(item["field"])),
        "warnings": article.warnings,
    }
    return strip_controls_within(report)


def print_explanation(report: dict[str, Any], stream: TextIO) -> None:
    """The report as a tree (coloured on a terminal, plain text elsewhere)."""
    for item in report.get("items", [report]):
        _print_one(item, stream)


def _line(label: str, style: str, value: object = "", separator: str = ": ") -> Text:
    """A labelled line built as Text, never parsed as markup: values are the input's own words."""
    from rich.text import Text

    return Text.assemble((label, style), separator if value != "" else "", str(value))


def _print_one(report: dict[str, Any], stream: TextIO) -> None:
    from rich.tree import Tree

    tree = Tree(_line(report["input"], "bold", f"({report['encoding']})", " "))
    removed = tree.add(_line("removed", "bold", f"({len(report['removed'])})", " "))
    for item in report["removed"]:
        node = removed.add(_line(item["what"], "red", item["excerpt"]))
        node.add(_line("rule:", "dim", item["rule"], " "))
    rewritten = tree.add(_line("rewritten URLs", "bold", f"({len(report['rewritten'])})", " "))
    for item in report["rewritten"]:
        node = rewritten.add(_line(item["attribute"], "yellow", item["before"]))
        node.add(_line("→", "green", item["after"], " "))
        node.add(_line("rule:", "dim", item["rule"], " "))
    metadata = tree.add(_line("metadata", "bold"))
    for item in report["metadata"]:
        node = metadata.add(_line(item["field"], "cyan", item["value"]))
        node.add(_line("from:", "dim", item["from"], " "))
    for warning in report["warnings"]:
        tree.add(_line("warning:", "yellow", warning, " "))
    _console(stream).print(tree)


def rules_listing(rules: RuleSet) -> list[dict[str, Any]]:
    """Every rule in force, in precedence order, with where it came from (no control character in
    any of it: a rules file may hold them in its strings, a path in its name); tuples become lists, for JSON."""
    return [strip_controls_within({"origin": rule.origin, "hosts": rule.hosts, **rule.values}) for rule in rules.rules]


def print_rules(listing: list[dict[str, Any]], stream: TextIO) -> None:
    """The rules in force as a table: where each comes from, its hosts, name and what it holds."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="feedclean rules in force (see docs/rules.md for precedence)", show_lines=True, expand=True)
    table.add_column("origin", overflow="fold", ratio=2)
    table.add_column("hosts", overflow="fold", ratio=3)
    table.add_column("name", overflow="fold", ratio=2)
    table.add_column("holds", overflow="fold", ratio=4)
    for rule in listing:
        holds = "\n".join(_holding(key, value) for key, value in rule.items() if key not in ("origin", "hosts", "name"))
        cells = (_short_origin(rule["origin"]), " ".join(rule["hosts"]), rule.get("name", ""), holds)
        table.add_row(*map(Text, cells))  # selectors ([data-x]) and names are not rich markup
    _console(stream, width=_PIPED_TABLE_WIDTH).print(table)


def _holding(key: str, value: Any) -> str:
    """One key of a rule as the table shows it: a scalar, a short list's entries, a long list's length."""
    if not isinstance(value, list):
        return f"{key} = {value}"
    if len(value) > _SHOWN_ENTRIES:
        return f"{key} ({len(value)})"
    shown = [str(item) if not isinstance(item, dict) else " → ".join(item.values()) for item in value]
    return f"{key}: {', '.join(shown)}"


def _short_origin(origin: str) -> str:
    home = os.path.expanduser("~")
    return "~" + origin[len(home) :] if home not in ("", "/") and origin.startswith(home + os.sep) else origin


def _console(stream: TextIO, width: int = _UNLIMITED_WIDTH):
    """A rich console: on a terminal, long lines wrap; elsewhere nothing is cut or coloured, and
    only a table (which pads every line to the width) is held to `width`."""
    from rich.console import Console

    if stream.isatty():
        return Console(file=stream)
    return Console(file=stream, width=width, soft_wrap=True, color_system=None)
