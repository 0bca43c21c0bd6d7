"""CommonMark's own delimiter algorithm, run over our emphasis before it is written.

Whether `*`/`**` become emphasis depends on their neighbours (flanking), on
adjacent delimiters merging into runs and on the rule of three; emphasis that
would not parse as written (common next to CJK punctuation) is dropped, never
left as stray asterisks.
"""

from __future__ import annotations

import unicodedata

# Rounds of dropping emphasis CommonMark would not parse before dropping all of a paragraph's.
_EMPHASIS_ROUNDS = 4


def drop_unparseable_emphasis(pieces: list[str], pairs: list[tuple[int, int]], links: list[tuple[int, int]]) -> None:
    """Blank delimiter pairs until CommonMark would leave no asterisk of ours as text.

    Whether `*`/`**` become emphasis depends on their neighbours (flanking),
    on adjacent delimiters merging into runs and on the rule of three, so the
    check runs CommonMark's own delimiter algorithm over the pieces, once for
    each spec version's idea of punctuation. A pair with a delimiter left
    over is blanked, and the check runs again; a paragraph still unsettled
    after a few rounds (built to be, as hostile input is) loses all its
    emphasis, its text intact, rather than take time quadratic in its length.
    """
    partner = {opener: closer for opener, closer in pairs} | {closer: opener for opener, closer in pairs}
    for _ in range(_EMPHASIS_ROUNDS):
        leftover = _literal_delimiters(pieces, partner, links, _is_punctuation_030) | _literal_delimiters(
            pieces, partner, links, _is_punctuation_031
        )
        if not leftover:
            return
        for index in leftover:
            pieces[index] = pieces[partner[index]] = ""
    for index in partner:
        pieces[index] = ""


class _Run:
    """A run of `*` as CommonMark sees it: made of one or more of our delimiter pieces."""

    __slots__ = ("can_close", "can_open", "end", "length", "pieces", "start")

    def __init__(self, pieces: list[tuple[int, int]], before: str, after: str, punctuation) -> None:
        self.pieces = pieces
        self.length = sum(length for _, length in pieces)
        self.start, self.end = 0, self.length
        self.can_open = _left_flanking(before, after, punctuation)
        self.can_close = _right_flanking(before, after, punctuation)


def _literal_delimiters(pieces: list[str], partner: dict[int, int], links: list[tuple[int, int]], punctuation) -> set[int]:
    """Indexes of our delimiter pieces CommonMark would leave (partly) as literal asterisks."""
    runs: list[_Run] = []
    run: list[tuple[int, int]] = []
    before = " "
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        if index in partner:
            run.append((index, len(piece)))
            continue
        if run:
            runs.append(_Run(run, before, piece[0], punctuation))
            run = []
        before = piece[-1]
    if run:
        runs.append(_Run(run, before, " ", punctuation))
    # A link's text is an inline context of its own: its delimiters pair up among themselves first.
    for group in _by_link(runs, links):
        _process_emphasis(group)
    leftover: set[int] = set()
    for r in runs:
        offset = 0
        for index, length in r.pieces:
            if offset < r.end and offset + length > r.start:
                leftover.add(index)
            offset += length
    return leftover


def _by_link(runs: list[_Run], links: list[tuple[int, int]]) -> list[list[_Run]]:
    """The runs inside each link (links never nest), then the runs outside all of them; one pass,
    as both are in document order."""
    inside: dict[int, list[_Run]] = {}
    outside: list[_Run] = []
    ordered = sorted(links)
    link = 0
    for run in runs:
        position = run.pieces[0][0]
        while link < len(ordered) and ordered[link][1] < position:
            link += 1
        if link < len(ordered) and ordered[link][0] < position < ordered[link][1]:
            inside.setdefault(link, []).append(run)
        else:
            outside.append(run)
    return [*inside.values(), outside]


def _process_emphasis(runs: list[_Run]) -> None:
    """CommonMark's "process emphasis" over runs of `*`, consuming what pairs up.

    As the reference implementation does: the runs that may still open wait
    on a stack, a match drops those above its opener, and a search that
    failed for one kind of closer never looks below that point again (its
    "openers_bottom"), so a paragraph of many runs stays near linear.
    """
    openers: list[_Run] = []
    bottom: dict[tuple[bool, int], int] = {}
    for closer in runs:
        while closer.can_close and closer.end > closer.start:
            kind = (closer.can_open, closer.length % 3)
            position = _opener_for(closer, openers, bottom.get(kind, 0))
            if position is None:
                bottom[kind] = len(openers)
                break
            opener = openers[position]
            used = 2 if opener.end - opener.start >= 2 and closer.end - closer.start >= 2 else 1
            opener.end -= used
            closer.start += used
            del openers[position + (opener.end > opener.start) :]
            for key, floor in bottom.items():
                bottom[key] = min(floor, len(openers))
        if closer.can_open and closer.end > closer.start:
            openers.append(closer)


def _opener_for(closer: _Run, openers: list[_Run], floor: int) -> int | None:
    """The nearest waiting run `closer` can pair with (the rule of three aside), above `floor`."""
    for position in range(len(openers) - 1, floor - 1, -1):
        opener = openers[position]
        both = opener.can_close or closer.can_open
        if both and (opener.length + closer.length) % 3 == 0 and not (opener.length % 3 == 0 and closer.length % 3 == 0):
            continue
        return position
    return None


def _is_punctuation_030(char: str) -> bool:
    """CommonMark 0.30: Unicode P* categories and ASCII punctuation."""
    return unicodedata.category(char)[0] == "P" or (char.isascii() and not char.isalnum() and not char.isspace())


def _is_punctuation_031(char: str) -> bool:
    """CommonMark 0.31: Unicode P* and S* categories (ASCII punctuation is in them)."""
    return unicodedata.category(char)[0] in "PS"


def _left_flanking(before: str, after: str, punctuation) -> bool:
    if after.isspace():
        return False
    return not punctuation(after) or before.isspace() or punctuation(before)


def _right_flanking(before: str, after: str, punctuation) -> bool:
    if before.isspace():
        return False
    return not punctuation(before) or after.isspace() or punctuation(after)
