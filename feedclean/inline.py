"""Inline content → CommonMark: a flat token list first, then serialised.

Inline content becomes a flat token list first, so whitespace can be
normalised across element boundaries and emphasis can be checked against
CommonMark's flanking rules with its real neighbours (emphasis.py); emphasis
that would not parse as emphasis (common next to CJK punctuation) is dropped,
never left as stray asterisks.
"""

from __future__ import annotations

import re

from lxml import etree

from .controls import strip_controls
from .emphasis import drop_unparseable_emphasis
from .escape import code_span, destination, escape_text
from .tree import BLOCK_TAGS
from .urls import IMAGE_SCHEMES, LINK_SCHEMES, is_allowed

TEXT, OPEN, CLOSE, LINK, END_LINK, IMAGE, CODE, BREAK = range(8)
_EMPHASIS = {"em": "*", "i": "*", "cite": "*", "dfn": "*", "var": "*", "strong": "**", "b": "**"}
_CODE_TAGS = frozenset(("code", "kbd", "samp", "tt"))
_SKIPPED = frozenset(("wbr",))
# Where a GFM extended autolink starts (cmark-gfm, markdown-it's linkify, mistune's url plugin,
# goldmark): "http://", "https://", "ftp://" and "www.", in any case. It then runs on through
# everything but whitespace (and "<", which is never written raw).
_AUTOLINK_START = re.compile(r"://|www\.", re.IGNORECASE)
# Tokens that open with a delimiter an autolink running into them would take into its URL.
_OPENED_BY_DELIMITER = frozenset((CODE, LINK, IMAGE, BREAK))
_TEXT_ONLY = frozenset((TEXT,))
_LINKS_ONLY = frozenset((TEXT, LINK, END_LINK, IMAGE))


def text_token(tokens: list[tuple], text: str | None) -> None:
    """Append the tree's text as a token: every piece of text enters the Markdown here, without
    its control characters (before it is escaped, so a dropped one cannot join two escapes)."""
    if text:
        tokens.append((TEXT, strip_controls(text)))


def collect(element: etree._Element, tokens: list[tuple], in_link: bool) -> None:
    """Append the tokens of one inline element (not its tail)."""
    tag = element.tag
    if tag == "br":
        tokens.append((BREAK,))
    elif tag == "img":
        src = element.get("src") or ""
        if src and is_allowed(src, IMAGE_SCHEMES):
            tokens.append((IMAGE, " ".join(strip_controls(element.get("alt") or "").split()), src))
    elif tag in _EMPHASIS:
        delimiter = _EMPHASIS[tag]
        tokens.append((OPEN, delimiter))
        collect_children(element, tokens, in_link)
        tokens.append((CLOSE, delimiter))
    elif tag == "a" and not in_link and (href := element.get("href")) and is_allowed(href, LINK_SCHEMES):
        tokens.append((LINK, href))
        collect_children(element, tokens, True)
        tokens.append((END_LINK, href))
    elif tag in _CODE_TAGS:
        tokens.append((CODE, strip_controls("".join(element.itertext()))))
    elif tag == "q":
        tokens.append((TEXT, "“"))
        collect_children(element, tokens, in_link)
        tokens.append((TEXT, "”"))
    elif tag not in _SKIPPED:
        block = tag in BLOCK_TAGS
        if block:
            tokens.append((TEXT, " "))
        collect_children(element, tokens, in_link)
        if block:
            tokens.append((TEXT, " "))


def collect_children(element: etree._Element, tokens: list[tuple], in_link: bool) -> None:
    text_token(tokens, element.text)
    for child in element:
        collect(child, tokens, in_link)
        text_token(tokens, child.tail)


def serialize_inline(tokens: list[tuple], in_table: bool = False) -> list[tuple[str, str]]:
    """Markdown and plain text of inline tokens, one pair per paragraph (split at <br><br>)."""
    if len(tokens) == 1 and tokens[0][0] == IMAGE:
        # An image alone (a figure's, a picture's paragraph): nothing around it to normalise.
        return [(_image(tokens[0]), "")]
    kinds = {token[0] for token in tokens}
    if kinds <= _TEXT_ONLY:
        text = " ".join("".join(token[1] for token in tokens).split())
        return [(escape_text(text), text)] if text else []
    if kinds <= _LINKS_ONLY:
        return _links_paragraph(tokens, IMAGE in kinds)
    if _is_wrapped_text(tokens):
        return wrapped_text(tokens[0][1], "".join(token[1] for token in tokens[1:-1]))
    result = []
    for paragraph in _paragraphs(tokens):
        paragraph = _merge_touching_code(_drop_empty_pairs(paragraph))
        if not any(token[0] in (TEXT, IMAGE, CODE) for token in paragraph):
            continue
        markdown = _to_markdown(_autolinks_ended(paragraph), in_table)
        text = "".join(token[1] if token[0] in (TEXT, CODE) else "\n" if token[0] == BREAK else "" for token in paragraph)
        if markdown.strip():
            result.append((markdown, text.strip()))
    return result


def wrapped_text(delimiter: str, raw: str) -> list[tuple[str, str]]:
    """serialize_inline for plain text in one emphasis (a caption, a bold standfirst), which
    always parses as written."""
    text = " ".join(raw.split())
    return [(f"{delimiter}{escape_text(text)}{delimiter}", text)] if text else []


def _links_paragraph(tokens: list[tuple], has_image: bool) -> list[tuple[str, str]]:
    """serialize_inline for text with links and images only (no emphasis, code or break: one
    paragraph, and nothing to simplify but empty links): the general path's passes that look for
    emphasis, code and breaks skipped."""
    kept: list[tuple] = []
    visible: list[str] = []  # the text and the images' alt text, in order
    for token in _paragraphs(tokens)[0]:
        kind = token[0]
        if kind == END_LINK and kept[-1][0] == LINK:
            kept.pop()
        else:
            kept.append(token)
            if kind in (TEXT, IMAGE):
                visible.append(token[1])
    if not visible:
        return []
    # The edge spaces _strip_edge_spaces takes from the text tokens are the joined text's own edges.
    text = "".join(token[1] for token in kept if token[0] == TEXT) if has_image else "".join(visible)
    markdown = _to_markdown(_autolinks_ended(_strip_edge_spaces(kept), "".join(visible)), False)
    return [(markdown, text.strip())] if markdown.strip() else []


def _is_wrapped_text(tokens: list[tuple]) -> bool:
    return (
        len(tokens) >= 3
        and tokens[0][0] == OPEN
        and tokens[-1][0] == CLOSE
        and tokens[0][1] == tokens[-1][1]
        and all(token[0] == TEXT for token in tokens[1:-1])
    )


def _paragraphs(tokens: list[tuple]) -> list[list[tuple]]:
    """Collapse whitespace across tokens, move it out of emphasis, split at double breaks.

    Breaks and spaces are held back until the next piece of content, so a
    break or space just before a closing delimiter lands after it.
    """
    paragraphs: list[list[tuple]] = [[]]
    out = paragraphs[0]
    content = False
    space = False
    breaks = 0
    for token in tokens:
        kind = token[0]
        if kind == BREAK:
            breaks += 1
            continue
        if kind == TEXT:
            raw = token[1]
            words = raw.split()
            if not words:
                space = True
                continue
            space = space or raw[0].isspace()
            token = (TEXT, " ".join(words))
        elif kind == CODE:
            code = " ".join(token[1].split())
            if not code:
                continue
            token = (CODE, code)
        if kind not in (CLOSE, END_LINK):
            if breaks and content:
                if breaks > 1:
                    out = []
                    paragraphs.append(out)
                    content = False
                else:
                    out.append((BREAK,))
                space = False
            breaks = 0
            if space and content:
                _insert_space(out)
            space = False
        if kind == CODE and out and out[-1][0] == CODE:
            token = (CODE, out.pop()[1] + token[1])
        out.append(token)
        if kind in (TEXT, IMAGE, CODE):
            content = True
            if kind == TEXT:
                space = raw[-1].isspace()
    # Tokens come balanced: only a split can leave an opener or closer alone.
    return [_balance(paragraph) for paragraph in paragraphs] if len(paragraphs) > 1 else paragraphs


def _balance(tokens: list[tuple]) -> list[tuple]:
    """Drop openers and closers left without a partner by a paragraph split."""
    stack: list[int] = []
    unmatched: set[int] = set()
    for index, token in enumerate(tokens):
        kind = token[0]
        if kind in (OPEN, LINK):
            stack.append(index)
        elif kind in (CLOSE, END_LINK):
            partner = OPEN if kind == CLOSE else LINK
            if stack and tokens[stack[-1]][0] == partner:
                stack.pop()
            else:
                unmatched.add(index)
    unmatched.update(stack)
    return [token for index, token in enumerate(tokens) if index not in unmatched] if unmatched else tokens


def _insert_space(out: list[tuple]) -> None:
    """Add a space at the end, but before any emphasis or link openers just emitted."""
    position = len(out)
    while position and out[position - 1][0] in (OPEN, LINK):
        position -= 1
    if position and out[position - 1][0] == TEXT:
        out[position - 1] = (TEXT, out[position - 1][1] + " ")
    else:
        out.insert(position, (TEXT, " "))


def _drop_empty_pairs(tokens: list[tuple]) -> list[tuple]:
    """Simplify emphasis and links until CommonMark reads them as written; drop trailing breaks.

    Empty pairs go. Emphasis nested in emphasis of the same kind goes (`*a *b* c*`
    would not parse back). A span that starts right where one of the same kind
    ends is merged into it (`*a**b*` would read `**` as one run), and one of
    another kind starting there loses its delimiters.
    """
    changed = True
    while changed:
        changed = False
        kept: list[tuple] = []
        dropped: list[bool] = []
        open_delimiters: list[str] = []
        for token in tokens:
            kind = token[0]
            if kind == OPEN:
                previous = kept[-1] if kept else None
                if token[1] in open_delimiters or (previous is not None and previous[0] == CLOSE and previous[1] != token[1]):
                    dropped.append(True)
                    changed = True
                elif previous is not None and previous[0] == CLOSE:
                    kept.pop()
                    open_delimiters.append(token[1])
                    dropped.append(False)
                    changed = True
                else:
                    kept.append(token)
                    open_delimiters.append(token[1])
                    dropped.append(False)
            elif kind == CLOSE:
                if dropped.pop():
                    continue
                open_delimiters.pop()
                if kept and kept[-1][0] == OPEN:
                    kept.pop()
                    changed = True
                else:
                    kept.append(token)
            elif kind == END_LINK and kept and kept[-1][0] == LINK:
                kept.pop()
                changed = True
            else:
                kept.append(token)
        tokens = kept
    while tokens and tokens[-1][0] == BREAK:
        tokens.pop()
    return _strip_edge_spaces(tokens)


def _strip_edge_spaces(tokens: list[tuple]) -> list[tuple]:
    for index in (0, -1):
        for position in range(len(tokens)) if index == 0 else range(len(tokens) - 1, -1, -1):
            kind = tokens[position][0]
            if kind == TEXT:
                text = tokens[position][1].lstrip() if index == 0 else tokens[position][1].rstrip()
                tokens[position] = (TEXT, text)
                break
            if kind not in (OPEN, CLOSE, LINK, END_LINK):
                break
    return tokens


def _merge_touching_code(tokens: list[tuple]) -> list[tuple]:
    """Merge code spans that only emphasis delimiters separate, dropping that emphasis.

    Otherwise their backtick fences would touch once a delimiter is dropped
    (or even with it, `` `a`**`b` ``), and CommonMark would read one run of
    backticks where two fences were meant: garbled code, or worse. One pass:
    a span merged into the one before it extends that one.
    """
    if sum(1 for token in tokens if token[0] == CODE) < 2:
        return tokens
    partner: dict[int, int] = {}
    stack: list[int] = []
    for index, token in enumerate(tokens):
        if token[0] == OPEN:
            stack.append(index)
        elif token[0] == CLOSE:
            opener = stack.pop()
            partner[index], partner[opener] = opener, index
    code: dict[int, str] = {}  # the spans that others were merged into, and their merged text
    dropped: set[int] = set()
    last_code = None
    between: list[int] = []
    for index, token in enumerate(tokens):
        if token[0] == CODE:
            if last_code is None:
                last_code = index
            else:
                code[last_code] = code.get(last_code, tokens[last_code][1]) + token[1]
                dropped.update((index, *between, *(partner[delimiter] for delimiter in between)))
            between = []
        elif token[0] in (OPEN, CLOSE):
            if index not in dropped:
                between.append(index)
        else:
            last_code, between = None, []
    return [(CODE, code[index]) if index in code else token for index, token in enumerate(tokens) if index not in dropped]


def _autolinks_ended(tokens: list[tuple], visible: str | None = None) -> list[tuple]:
    """A space before each code span, link, image or hard break that a GFM autolink would run into.

    An autolink runs on to the next whitespace, so `http://a.b/` written against a code span
    takes its opening backtick into the URL, and the code, written raw as code spans must be
    (`<img onerror=…>`), is read as HTML; against a link's `[`, an image's `![` or a break's `\\`,
    it garbles them. A word that holds an autolink's start (across emphasis, a link's text, an
    image's alt) is ended with a space before such a token; other words are left as written
    (`f(`x`)`, `e.g.`x``). A link's or image's target counts only before a code span: it is
    read as text only where the link did not parse (mistune's autolinks can eat the backslash
    of an escaped `]` in a link's text, closing it early), and then only the code is at stake.
    A caller that knows no code span is among the tokens may pass their `visible` text (the
    text tokens' and the images' alt text, joined in order; edge spaces do not matter).
    """
    if visible is None and not any(token[0] == CODE for token in tokens):
        visible = "".join(token[1] for token in tokens if token[0] in (TEXT, IMAGE))
    if visible is not None and "://" not in visible and "w." not in visible and "W." not in visible:
        # Without a code span no target counts, and a word can only hold a start the text does:
        # "://", or "www." in any case, which ends in "w." or "W." (all in substring searches, as
        # a case-insensitive search of the text takes ~25 ns a character).
        return tokens
    ended: list[tuple] = []
    word_tail = ""  # the last characters of the current word, where a start may straddle tokens
    armed = False  # whether the current word's text holds an autolink's start
    target_armed = False  # whether a link's or image's target in the current word holds one
    for token in tokens:
        kind = token[0]
        if kind in _OPENED_BY_DELIMITER and (armed or (target_armed and kind == CODE)):
            _insert_space(ended)
            word_tail, armed, target_armed = "", False, False
        ended.append(token)
        if kind == BREAK:
            word_tail, armed, target_armed = "", False, False
        elif kind in (TEXT, IMAGE):
            text = token[1]
            space = text.rfind(" ")
            if space >= 0:
                word_tail, text, armed, target_armed = "", text[space + 1 :], False, False
            text = word_tail + text
            armed = armed or _AUTOLINK_START.search(text) is not None
            word_tail = text[-3:]
        if kind in (END_LINK, IMAGE):
            target_armed = target_armed or _AUTOLINK_START.search(token[-1]) is not None
    return ended


def _to_markdown(tokens: list[tuple], in_table: bool) -> str:
    pieces: list[str] = []
    pairs: list[tuple[int, int]] = []
    links: list[tuple[int, int]] = []
    stack: list[int] = []
    link_stack: list[int] = []
    for token in tokens:
        kind = token[0]
        if kind == TEXT:
            pieces.append(escape_text(token[1]))
        elif kind == OPEN:
            stack.append(len(pieces))
            pieces.append(token[1])
        elif kind == CLOSE:
            pieces.append(token[1])
            pairs.append((stack.pop(), len(pieces) - 1))
        elif kind == LINK:
            link_stack.append(len(pieces))
            pieces.append("[")
        elif kind == END_LINK:
            links.append((link_stack.pop(), len(pieces)))
            pieces.append(f"]({destination(token[1])})")
        elif kind == IMAGE:
            pieces.append(_image(token))
        elif kind == CODE:
            pieces.append(code_span(token[1], in_table))
        elif kind == BREAK:
            pieces.append("\\\n")
    if pairs:
        drop_unparseable_emphasis(pieces, pairs, links)
    if links:
        _escape_bang_before_links(pieces, links)
    return "".join(pieces)


def _image(token: tuple) -> str:
    return f"![{escape_text(token[1])}]({destination(token[2])})"


def _escape_bang_before_links(pieces: list[str], links: list[tuple[int, int]]) -> None:
    """Escape a `!` right before a link's `[` (in the final pieces, after emphasis was
    dropped), or the link would become an image that readers load by themselves."""
    for start, _ in links:
        previous = start - 1
        while previous >= 0 and not pieces[previous]:
            previous -= 1
        piece = pieces[previous] if previous >= 0 else ""
        if piece.endswith("!") and (len(piece) - 1 - len(piece[:-1].rstrip("\\"))) % 2 == 0:
            pieces[previous] = piece[:-1] + "\\!"
