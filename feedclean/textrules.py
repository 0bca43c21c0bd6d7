"""Rules matched against text: whole-block patterns (strip_text, rights) and caption openings.

A block is tried against every strip_text pattern, and real rule sets hold
dozens of them, most starting with a word ("the post …", "der Beitrag …").
Trying them all as one alternation costs time in proportion to their number
for every paragraph of every article, so the patterns are grouped by the
characters a match can start with: a block is only tried against the
patterns that can start with its first character (and those whose start
cannot be told). More rules then cost almost nothing on text they cannot
match.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

# The parser of the standard library's regular expressions: its parse tree tells which
# characters a pattern can start with. Only read; anything it cannot tell is "any character".
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

TEXT_FLAGS = re.IGNORECASE | re.DOTALL
# strip_text rules only look at blocks with at most this much text (more is article text).
TEXT_RULE_MAX_CHARS = 600
# What \s stands for at the start of a text (texts are whitespace-collapsed, so this rarely matters):
# every character str.isspace() accepts, written out (finding them cost 1 ms of each start).
_SPACES = frozenset(
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# A group of plain alternatives at the start of a pattern, and what may make its start optional.
_WORD_GROUP = re.compile(r"\((?:\?:)?((?:[^\W_]+[^|()\\[\]{}?*+.^$]*)(?:\|[^\W_]+[^|()\\[\]{}?*+.^$]*)*)\)")
_QUANTIFIERS = frozenset("?*{")
# A character class larger than this is "any character" for grouping.
_MAX_CLASS = 64
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None)}


class TextRules:
    """Regular expressions matched against a block's whole text, case-insensitively.

    Each text is tried only against the patterns that can start with its first character
    (and those whose start cannot be told), one after another: joined into one alternation
    they cost as much per text, and more to compile.
    """

    __slots__ = ("_by_char", "_open")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._by_char: dict[str, list[_TextPattern]] = {}
        self._open: list[_TextPattern] = []  # patterns that may start with any character
        for pattern, origin in items:
            entry = _TextPattern(pattern, origin)
            starts = first_characters(pattern)
            if starts is None:
                self._open.append(entry)
                for entries in self._by_char.values():
                    entries.append(entry)
            else:
                for char in starts:
                    self._by_char.setdefault(char, list(self._open)).append(entry)

    def match(self, text: str) -> tuple[str, str] | None:
        """The (pattern, origin) of the first rule, in the rules' order, matching all of `text`, or None."""
        for entry in self._by_char.get(text[:1].lower(), self._open):
            if entry.fullmatch(text):
                return entry.pattern, entry.origin
        return None


class _TextPattern:
    """One text rule, compiled when a text is first tried against it.

    Compiling the built-in rules took ~30 ms of every worker's start, and most never meet a
    text they could match (an English folder never tries the rules opening with Chinese
    words). The rules' own files are checked, compiled, when they are read, so a bad
    pattern is still reported before any input. `fullmatch` is the compiled pattern's own
    method once compiled: matching then costs what it did.
    """

    def __init__(self, pattern: str, origin: str) -> None:
        self.pattern = pattern
        self.origin = origin
        self.fullmatch: Callable[[str], re.Match[str] | None] = self._compile_and_match

    def _compile_and_match(self, text: str) -> re.Match[str] | None:
        self.fullmatch = re.compile(self.pattern, TEXT_FLAGS).fullmatch
        return self.fullmatch(text)


class CaptionText:
    """How captions start ("▲", "Photo:", "图片来自"): patterns matched at the start of a short
    text, case-insensitively, all in one regular expression."""

    __slots__ = ("_regex",)
    MAX_CHARS = 300

    def __init__(self, patterns: list[str]) -> None:
        self._regex = re.compile("|".join(f"(?:{pattern})" for pattern in patterns), TEXT_FLAGS) if patterns else None

    def is_caption(self, text: str) -> bool:
        return self._regex is not None and len(text) <= self.MAX_CHARS and self._regex.match(text) is not None


@functools.lru_cache(maxsize=4096)
def first_characters(pattern: str) -> frozenset[str] | None:
    """The lower-cased characters a case-insensitive match of `pattern` can start with, or None
    when that cannot be told (it can start with anything, or match nothing at all)."""
    simple = _simple_start(pattern)
    if simple is not None:
        return simple
    try:
        starts, nullable = _first_of(sre_parse.parse(pattern, TEXT_FLAGS).data)
    except (re.error, TypeError, ValueError, AttributeError):
        return None
    if starts is None or nullable:
        return None
    return _cased_safe(frozenset(starts))


def _simple_start(pattern: str) -> frozenset[str] | None:
    """The first characters of a pattern that opens with a plain word ("the post …") or a group
    of plain words ("(follow|join) us …"), read without parsing; None for anything else."""
    if _has_top_level_bar(pattern):
        return None
    if pattern[:1].isalnum() and pattern[1:2] not in _QUANTIFIERS:
        return _cased_safe(frozenset(pattern[0].lower()))
    match = _WORD_GROUP.match(pattern)
    if match is None or pattern[match.end() : match.end() + 1] in _QUANTIFIERS:
        return None
    return _cased_safe(frozenset(word[0].lower() for word in match.group(1).split("|")))


def _has_top_level_bar(pattern: str) -> bool:
    """Whether `pattern` is an alternation at its top level ("dismiss|learn more")."""
    depth, escaped, in_class = 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


def _cased_safe(starts: frozenset[str]) -> frozenset[str] | None:
    """None when a start is a cased letter outside ASCII, whose case folding lower() may not follow."""
    return None if any(char.lower() != char.upper() and not char.isascii() for char in starts) else starts


def _first_of(items: list[tuple[Any, Any]]) -> tuple[set[str] | None, bool]:
    """(first characters, whether the sequence can match nothing) of a parsed sequence."""
    starts: set[str] = set()
    for opcode, argument in items:
        item_starts, nullable = _first_of_item(opcode, argument)
        if item_starts is None:
            return None, False
        starts |= item_starts
        if not nullable:
            return starts, False
    return starts, True


def _first_of_item(opcode: Any, argument: Any) -> tuple[set[str] | None, bool]:
    if opcode is sre_constants.LITERAL:
        return {chr(argument).lower()}, False
    if opcode is sre_constants.IN:
        return _class_characters(argument), False
    if opcode is sre_constants.SUBPATTERN:
        return _first_of(argument[-1].data)
    if opcode is sre_constants.BRANCH:
        starts: set[str] = set()
        nullable = False
        for branch in argument[1]:
            branch_starts, branch_nullable = _first_of(branch.data)
            if branch_starts is None:
                return None, False
            starts |= branch_starts
            nullable = nullable or branch_nullable
        return starts, nullable
    if opcode in _REPEATS:
        low, _, inner = argument
        inner_starts, inner_nullable = _first_of(inner.data)
        return inner_starts, inner_nullable or low == 0
    if opcode is sre_constants.AT:
        return set(), True
    return None, False


def _class_characters(members: list[tuple[Any, Any]]) -> set[str] | None:
    characters: set[str] = set()
    for opcode, argument in members:
        if opcode is sre_constants.CATEGORY and argument is sre_constants.CATEGORY_SPACE:
            characters.update(_SPACES)
        elif opcode is sre_constants.LITERAL:
            characters.add(chr(argument).lower())
        elif opcode is sre_constants.RANGE and argument[1] - argument[0] <= _MAX_CLASS:
            characters.update(chr(code).lower() for code in range(argument[0], argument[1] + 1))
        else:
            return None
    return characters if len(characters) <= _MAX_CLASS else None
