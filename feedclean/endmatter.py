"""Part of stage 3, clean: what trails the article and is not part of it.

Feeds end their items with matter that is not the article: a read-more link,
a "first published on" footer, a permalink glyph, comment counters, a row of
tags, related links, a row of the publisher's own pages and profiles. Each is
found by where it stands (after the article's last text) and by where its
links point (the item itself, its comments, the site's front page, tag pages,
social profiles, other pages of the same site), never by its words, so the
same footer in German or Chinese goes too. Only a label ("Related:",
"相关文章：") is read, and only beside links that already qualify.

Walking back from the end of the body, each block is one of:
- a note on the item itself: a link to the item (or its comments) with at
  most a sentence around it ("The post X appeared first on Y", "Read more of
  this story at Slashdot", "Continue reading");
- a link row: links with at most a short label between them;
- a label: a few words ending in a colon, a named label, or a bold line;
- content, where the walk stops.
A run of link rows goes when most of its links point at the item, its
comments, a front page, tag pages, profiles, contact addresses, read-more
words or glyphs, or at other pages of the same site; pages of the same site
only when the run does not follow a sentence that introduces it ("…as
follows:"), and never when the run is all there is. A label right before a
run that goes goes with it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from .article import Article, Trace
from .linkroles import LinkRoles
from .rules import is_named_label, label_key
from .siterules import SiteRules
from .tree import (
    BLOCK_TAGS,
    HEADINGS,
    all_emphasised,
    leaf_blocks,
    leaf_blocks_from_end,
    note,
    raw_text,
    remove,
    text_of,
    visible_length,
)
from .urls import host_of
from .widgets import LABEL_MAX_CHARS, SEPARATORS, Outside

# A note about the item itself carries at most this much text beside its links; a row of
# links, with their words, at most ROW_MAX_CHARS (more is a paragraph).
NOTE_MAX_CHARS = 200
ROW_MAX_CHARS = 600
# LABEL_MAX_CHARS before whitespace is collapsed (a label may be indented or spread over lines).
_RAW_LABEL_MAX_CHARS = 3 * LABEL_MAX_CHARS
# Link roles that only ever point away from the article's text, so a row of them is not
# content anywhere in the body; after the article's last text neither is a link to the item
# itself (in the text, a link blog's item is the page it comments on), a front page, a
# read-more link or a page of the same site.
_AWAY_ROLES = frozenset(("tag", "profile", "contact", "glyph"))
_META_ROLES = (_AWAY_ROLES - {"contact"}) | {"self", "root", "readmore"}
# Roles a link keeps beside a few words of text and still makes a row ("徐才厚<a>相关报道</a>" to a
# tag page); a profile beside words is a credit ("Photo by <a>Jane</a>"), a glyph a footnote mark.
_NAMED_AWAY_ROLES = frozenset(("tag", "self"))
# Rows that start and end a span of rows pointing away ("Follow us" lists start with the front page).
_SPAN_ROLES = (_AWAY_ROLES | {"root", "front"}) - {"contact"}
_OWN_ROLES = frozenset(("own", "tag", "root", "self"))
_COLONS = (":", "：")
_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？", "…")
_CELLS = frozenset(("td", "th"))
# A block's links and what it shows outside them.
_Shape = tuple[list[etree._Element], Outside]
_OPENERS = "([（【"
_CLOSERS = ")]）】"


def remove_end_matter(article: Article, site: SiteRules, scripted: list[etree._Element]) -> None:
    """Remove rows of links that only point away from the text, anywhere (see the module's
    docstring); then, after the article's last text, interactive widgets and the end matter."""
    body = article.tree
    roles = LinkRoles(article, site)
    candidates = _row_shaped_blocks(body)
    if candidates:
        blocks = [block for block in leaf_blocks(body) if block.tag != "hr"]
        _remove_link_runs(blocks, candidates, roles, site, article.trace)
    _remove_trailing_widgets(body, scripted, roles, article.trace)
    units = (block for block in leaf_blocks_from_end(body) if block.tag != "hr")
    kept = _remove_trailing(units, roles, site, article.trace)
    if kept is not None:
        _trim_last_block(kept, roles, article.trace)


def _row_shaped_blocks(body: etree._Element) -> dict[etree._Element, _Shape]:
    """The blocks shaped like a row of links, with their links and what they show outside
    them: most articles' links sit in long paragraphs or beside a sentence, and then the body
    need not be walked block by block. (Removing a run of rows changes no block after it, so
    what is found here still holds when the walk reaches a block.)"""
    seen: set[etree._Element] = set()
    shaped: dict[etree._Element, _Shape] = {}
    for link in body.iter("a"):
        if not link.get("href"):
            continue
        block = link.getparent()
        while block is not None and block.tag not in BLOCK_TAGS:
            block = block.getparent()
        if block is None:
            block = body
        if block not in seen:
            seen.add(block)
            shape = _row_shape(block) if _may_be_row(block) else None
            if shape is not None:
                shaped[block] = shape
    return shaped


def _may_be_row(block: etree._Element) -> bool:
    """A cheap first look (lengths libxml2 gives, whitespace uncollapsed): is the block short,
    and its text outside links short enough to be a label?"""
    length = len(raw_text(block))
    if length > ROW_MAX_CHARS:
        return False
    outside = length - sum(len(raw_text(link)) for link in block.iter("a") if link.get("href"))
    return outside <= _RAW_LABEL_MAX_CHARS


@dataclass(slots=True)
class _Unit:
    """One block as the walk sees it."""

    element: etree._Element
    kind: str  # "empty", "note", "row", "label", "content"
    roles: list[str]
    outside: str = ""


def _remove_trailing(
    units: Iterator[etree._Element], roles: LinkRoles, site: SiteRules, trace: Trace | None
) -> etree._Element | None:
    """Walk back from the last block (`units` come last first) and remove the end matter, once
    the walk has reached the article's last content block (returned); an item of nothing but
    links keeps them all. A body of loose text, with no block, is one unit."""
    doomed: list[_Unit] = []
    run: list[_Unit] = []
    first = next(units, None)
    if first is None:
        return roles.body
    for element in itertools.chain((first,), units):
        unit = _classify(element, roles, site) if element.tag not in _CELLS else _Unit(element, "content", [])
        if unit.kind == "empty":
            continue
        if unit.kind == "row":
            run.append(unit)
            continue
        if run:
            if not _run_goes(run, before=unit, roles=roles, site=site):
                _drop(doomed, trace)
                return run[0].element
            doomed += run
            run = []
            if unit.kind == "label":
                doomed.append(unit)
                continue
        if unit.kind == "note" and not roles.linked_elsewhere(unit.element):
            doomed.append(unit)
            continue
        _drop(doomed, trace)
        return unit.element
    # No content before the end matter: it is the article (a teaser of one note), and stays;
    # only a read-more link at its very end goes.
    return first


def _classify(element: etree._Element, roles: LinkRoles, site: SiteRules) -> _Unit:
    text = text_of(element)
    has_image = next(element.iter("img"), None) is not None
    links = [link for link in element.iter("a") if link.get("href")]
    if not text and not has_image:
        return _Unit(element, "empty", [])
    if has_image:
        return _Unit(element, "content", [])
    if not links:
        kind = "label" if _is_label(element, text, site) else "content"
        return _Unit(element, kind, [])
    if len(text) > ROW_MAX_CHARS + NOTE_MAX_CHARS:
        return _Unit(element, "content", [])
    outside = Outside(element, set(links))
    if outside.content:
        return _Unit(element, "content", [])
    link_roles = [roles.of(link) for link in links]
    if _is_row(element, outside.text, link_roles, site) and _self_row_is_note(outside.text, links, link_roles, roles):
        return _Unit(element, "row", link_roles, outside.text)
    if "self" in link_roles and len(outside.text) <= NOTE_MAX_CHARS and roles.is_note(links, link_roles, outside.text):
        return _Unit(element, "note", link_roles)
    return _Unit(element, "content", link_roles)


def _self_row_is_note(outside: str, links: list[etree._Element], link_roles: list[str], roles: LinkRoles) -> bool:
    """A few words beside a link to the item ("Exactly right. <a>Jane Roe</a> nails it." in a
    link blog) make a row only when they read as a note about the item (its title, read more)."""
    if not outside or "tag" in link_roles or "self" not in link_roles:
        return True
    return roles.is_note(links, link_roles, outside)


def _is_row(element: etree._Element, outside: str, link_roles: list[str], site: SiteRules) -> bool:
    """Whether links with `outside` text beside them make a row of links: nothing but
    separators, or a label before them ("Tags: …"), or a few words beside a link that points
    away from the text (a tag page, a profile, the item itself). "Wow! <a>link</a>" is a
    sentence, and so is "<a>*</a> words:"."""
    if len(outside) > LABEL_MAX_CHARS:
        return False
    if not outside:
        return True
    labelled = outside.endswith(_COLONS) or is_named_label(label_key(outside), site.related_labels)
    if labelled and text_of(element).startswith(outside):
        return True
    return not _NAMED_AWAY_ROLES.isdisjoint(link_roles)


def _is_label(element: etree._Element, text: str, site: SiteRules) -> bool:
    """A few words that introduce what follows: ending in a colon, named as a label, or set
    apart as a bold line or a heading (italics are a quote or an aside)."""
    if len(text) > LABEL_MAX_CHARS:
        return False
    if text.endswith(_COLONS) or is_named_label(label_key(text), site.related_labels):
        return True
    if text.endswith(_SENTENCE_ENDS):  # "**Stay safe, and see you Friday.**" is a sign-off
        return False
    return element.tag in HEADINGS or all_emphasised(element)


def _run_goes(run: list[_Unit], before: _Unit, roles: LinkRoles, site: SiteRules) -> bool:
    """Whether a run of link rows is end matter: most of its links point away from the text.

    Pages of the same site count too, in rows that are links alone or after a named label
    ("Related:"), unless something else introduces the run (a sentence or a label of its own:
    "…read them here:", "Update:", a heading "Related work"), or the run is much of the
    article (a digest of the week's posts). Links to the item itself
    count unless the text links to it too (a link blog's item is the page it comments on).
    """
    link_roles = [role for unit in run for role in unit.roles]
    meta = sum(role in _META_ROLES for role in link_roles)
    if "self" in link_roles and any(roles.linked_elsewhere(unit.element) for unit in run if "self" in unit.roles):
        meta -= link_roles.count("self")
    own = sum(unit.roles.count("own") for unit in run if _plainly_listed(unit, site))
    before_text = text_of(before.element)
    named = is_named_label(label_key(before_text), site.related_labels)
    introduced = not named and (before.kind == "label" or before_text.endswith(_COLONS))
    if own and (introduced or _much_of_the_article(run, roles.body)):
        own = 0
    return 2 * (meta + own) > len(link_roles)


def _plainly_listed(unit: _Unit, site: SiteRules) -> bool:
    """A row that is links alone, or links after a named label: a related block's shape."""
    return not unit.outside or is_named_label(label_key(unit.outside), site.related_labels)


def _much_of_the_article(run: list[_Unit], body: etree._Element) -> bool:
    """Whether the run holds half the body's text or more: then it is what the article lists."""
    return 2 * sum(visible_length(unit.element) for unit in run) >= visible_length(body)


def _drop(units: list[_Unit], trace: Trace | None) -> None:
    for unit in units:
        if trace is not None:
            note(trace, "end matter", unit.element, _why(unit))
        remove(unit.element)


def _why(unit: _Unit) -> str:
    if unit.kind == "label":
        return "label of the end matter after it"
    if unit.kind == "note":
        return "note linking to the item itself, after the article (read more, first published on …)"
    pointing = sorted(set(unit.roles) - {"external"})
    return f"row of links after the article, to: {', '.join(pointing) or 'other pages'}"


def _trim_last_block(block: etree._Element, roles: LinkRoles, trace: Trace | None) -> None:
    """At the very end of the last block: a read-more link ("… Continue reading »") or a glyph,
    and a bracketed run of links to the site's tag or topic pages ("(Tesla, Elektroauto)"), go;
    the sentence before them stays, and so does a link to the item that names it ("New
    episode: <a>Jane Doe on trees</a>")."""
    while True:
        last = _last_inline(block)
        if last is None or last.tag != "a" or not last.get("href"):
            return
        if (last.tail or "").strip() and not SEPARATORS.fullmatch(last.tail):
            return
        role = roles.of(last)
        if role in ("glyph", "readmore") or (role == "self" and roles.says_read_more(last)):
            _cut(block, [last], trace, f"{role} link at the end of the article")
            continue
        run = _bracketed_run(last, roles)
        if run:
            _cut(block, run, trace, "bracketed links to the site's own pages at the end of the article")
        return


def _last_inline(block: etree._Element) -> etree._Element | None:
    """The last element in `block`, descending into its last inline child."""
    node = block
    while len(node):
        child = node[-1]
        if child.tag in BLOCK_TAGS:
            return None
        if child.tag == "a" or not len(child) or (child.tail or "").strip():
            return child
        node = child
    return None


def _bracketed_run(last: etree._Element, roles: LinkRoles) -> list[etree._Element]:
    """The links of a trailing "(link, link)" run, when every one points at the site's own
    pages and nothing but separators sits between them."""
    if not (last.tail or "").strip().startswith(tuple(_CLOSERS)):
        return []
    run = [last]
    node = last.getprevious()
    while node is not None and node.tag == "a":
        between = (node.tail or "").strip()
        if not SEPARATORS.fullmatch(between):
            return []
        run.insert(0, node)
        node = node.getprevious()
    lead = ((node.tail if node is not None else last.getparent().text) or "").rstrip()
    run_roles = [roles.of(link) for link in run]
    if not lead.endswith(tuple(_OPENERS)) or any(role not in ("own", "tag", "root") for role in run_roles):
        return []
    # A list of topics, not "(<a>PDF</a>)": two or more links, or tag pages.
    return run if len(run) >= 2 or "tag" in run_roles else []


def _cut(block: etree._Element, links: list[etree._Element], trace: Trace | None, why: str) -> None:
    """Remove trailing links and the separators and brackets around them."""
    if trace is not None:
        note(trace, "end of the article", " ".join(text_of(link) for link in links)[:60] or links[0].get("href", ""), why)
    first = links[0]
    parent, previous = first.getparent(), first.getprevious()
    for link in links:
        link.tail = None
        parent.remove(link)
    if previous is not None:
        previous.tail = _without_trailing_separators(previous.tail)
    else:
        parent.text = _without_trailing_separators(parent.text)


def _without_trailing_separators(text: str | None) -> str | None:
    """Text with the run of punctuation and brackets at its end removed ("… »", " (")."""
    if not text:
        return text
    end = len(text)
    while end and (text[end - 1].isspace() or (not text[end - 1].isalnum() and text[end - 1] not in ".!?…。！？\"'”’")):
        end -= 1
    return text[:end]


def _remove_link_runs(
    blocks: list[etree._Element], candidates: dict[etree._Element, _Shape], roles: LinkRoles, site: SiteRules, trace: Trace | None
) -> None:
    """Anywhere in the body, a run of link rows goes with the label before it when most of its
    links point at profiles, contact addresses, tag pages, glyphs or the item itself ("Follow
    us: …", "Tags: …"), or when a named label ("Related:", "延伸阅读") introduces it and every
    link goes to the site's own pages."""
    run: list[_Unit] = []
    held: list[_Unit] = []  # short lines of text inside a run ("E-mail: x@example.com")
    before: etree._Element | None = None
    for block in blocks:
        shape = candidates.get(block)
        unit = _row_or_none(block, shape, roles, site) if shape is not None and block.tag not in _CELLS else None
        if unit is not None:
            run += [*held, unit]
            held = []
            continue
        text = text_of(block) if run else ""
        if text and len(text) <= LABEL_MAX_CHARS and not len(block):
            held.append(_Unit(block, "content", []))
            continue
        if run:
            _judge_run(run, before, roles, site, trace)
            run = []
        if block.text or len(block):
            before = block
        elif held:
            before = held[-1].element
        held = []
    if run and (before is not None or held):
        _judge_run(run, before, roles, site, trace)


def _row_shape(block: etree._Element) -> _Shape | None:
    """The block's links and what it shows outside them when it has the shape of a link row
    (links with at most a short label between them, no image), else None."""
    links = [link for link in block.iter("a") if link.get("href")]
    if not links or next(block.iter("img"), None) is not None:
        return None
    outside = Outside(block, set(links))
    if outside.content or len(outside.text) > LABEL_MAX_CHARS:
        return None
    return links, outside


def _row_or_none(block: etree._Element, shape: _Shape, roles: LinkRoles, site: SiteRules) -> _Unit | None:
    """The row-shaped block as a link row, or None when its links and words make a sentence."""
    links, outside = shape
    link_roles = [roles.of(link) for link in links]
    return _Unit(block, "row", link_roles, outside.text) if _is_row(block, outside.text, link_roles, site) else None


def _judge_run(run: list[_Unit], before: etree._Element | None, roles: LinkRoles, site: SiteRules, trace: Trace | None) -> None:
    """Remove a run of link rows in the body when it points away from the text or is a
    related block (see _remove_link_runs); an e-mail address or a single profile link, in
    the text, stays."""
    link_roles = [role for unit in run for role in unit.roles]
    pointing_away = sum(role in _AWAY_ROLES and role != "contact" for role in link_roles)
    label = before if before is not None and _is_label(before, text_of(before), site) else None
    named = run[0].outside or (text_of(label) if label is not None else "")
    related = is_named_label(label_key(named), site.related_labels) if named else False
    introduced = before is not None and label is None and text_of(before).endswith(_COLONS)
    follow_us = link_roles != ["profile"] and (link_roles.count("profile") < 2 or _networks(run) >= 2)
    if not introduced and follow_us and 2 * (pointing_away + link_roles.count("contact")) > len(link_roles) and pointing_away:
        doomed = _span_pointing_away(run)
        why = f"row of links to {', '.join(sorted(set(link_roles) & _AWAY_ROLES))}"
    elif related and all(role in _OWN_ROLES for role in link_roles):
        doomed, why = run, f"related_labels '{named}' before links to the site's own pages"
    else:
        return
    if not doomed:
        return
    if label is not None and doomed[0] is run[0] and set(link_roles) != {"glyph"}:
        doomed = [_Unit(label, "label", []), *doomed]
    for unit in doomed:
        note(trace, "links", unit.element, why)
        remove(unit.element)


def _networks(run: list[_Unit]) -> int:
    """How many social networks a run's profile links go to: a follow-us row names several,
    a list of contributors' profiles one."""
    hosts = set()
    for unit in run:
        links = [link for link in unit.element.iter("a") if link.get("href")]
        hosts.update(host_of(link.get("href")) for link, role in zip(links, unit.roles, strict=True) if role == "profile")
    return len(hosts)


def _span_pointing_away(run: list[_Unit]) -> list[_Unit]:
    """The rows from the first to the last that point away (to profiles, tag pages, front
    pages …), with what sits between them; a row of e-mail addresses or of other pages at
    either end stays."""
    away = [index for index, unit in enumerate(run) if unit.roles and all(role in _SPAN_ROLES for role in unit.roles)]
    return run[away[0] : away[-1] + 1] if away else []


def _remove_trailing_widgets(body: etree._Element, scripted: list[etree._Element], roles: LinkRoles, trace: Trace | None) -> None:
    """After the article's text, a top-level box holding links that only run a script (a
    javascript: tab of a company-profile box, a "show more" toggle) is an interactive widget
    whose script is gone: it goes, when it holds less than half the body's text. A paragraph
    with such a link is text with a dead link, and stays."""
    if not scripted:
        return
    holders = {_top_level(link, body) for link in scripted if link.getparent() is not None}
    total = visible_length(body)
    for child in reversed(list(body)):
        if child in holders and _is_box(child) and _third_party(child, roles) and 2 * visible_length(child) < total:
            note(trace, "interactive widget", child, "block with script-only links (javascript:) after the article")
            remove(child)
        elif visible_length(child) or next(child.iter("img"), None) is not None:
            return


def _third_party(box: etree._Element, roles: LinkRoles) -> bool:
    """Whether most of the box's real links go to one other site: a company-profile or rating
    widget shows another service's data; a box of questions that fold open (a FAQ) links nowhere."""
    hosts = [host_of(link.get("href") or "") for link in box.iter("a") if link.get("href")]
    if not hosts:
        return False
    service, count = Counter(hosts).most_common(1)[0]
    return 2 * count >= len(hosts) and not roles.is_own_host(service)


def _is_box(element: etree._Element) -> bool:
    """A block holding blocks (a widget's panels and tabs), not one paragraph with odd links."""
    return any(child.tag in BLOCK_TAGS for child in element.iterdescendants())


def _top_level(element: etree._Element, body: etree._Element) -> etree._Element | None:
    node = element
    while node.getparent() is not None and node.getparent() is not body:
        node = node.getparent()
    return node if node.getparent() is body else None
